import {
  type CloudWatchClient,
  type Datapoint,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { type InstanceMetrics, METRIC_PERIOD_SECONDS, type SeriesName } from '../core/instance.js';
import type { MetricsPort, MetricsRequest, SeriesQuery, StreamOptions } from '../core/ports.js';
import { chunk, mapBounded } from './clients.js';

/** IAM actions this adapter uses. */
export const CLOUDWATCH_SWEEP_PERMISSIONS = ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics'] as const;

/** GetMetricStatistics calls kept in flight at once (CloudWatch allows 400 a second). */
export const STATISTICS_CALLS_IN_PARALLEL = 10;

/** Resources per batch handed back by the GetMetricStatistics path. */
const STATISTICS_BATCH = 100;

/** GetMetricData accepts at most 500 queries per call. */
export const MAX_QUERIES_PER_CALL = 500;

/** CloudWatch for the sweep: datapoints for the resources that could be idle, in as few calls as possible. */
export class MetricsAdapter implements MetricsPort {
  /** GetMetricData calls made by this adapter (the benchmark and tests count them). */
  calls = 0;

  constructor(private readonly client: CloudWatchClient) {}

  /**
   * Every series of every request at the 5-minute period, from `from` to `to`, batching up to 500 queries per
   * GetMetricData call. Resources without datapoints get empty series (which evaluate() treats as unknown, never
   * idle). Each resource is handed over as soon as its series are complete: after every GetMetricData batch, the
   * resources whose last query was in it. The caller can judge them and let their datapoints go, so a sweep of
   * 10,000 instances holds one batch of datapoints at a time, not all of them (docs/scale.md). A failing call
   * ends the stream with its error; resources not yet handed over have no metrics (never idle).
   */
  async *stream(
    requests: MetricsRequest[],
    from: Date,
    to: Date,
    options: StreamOptions = {},
  ): AsyncGenerator<[instanceId: string, metrics: InstanceMetrics][]> {
    if (options.api === 'GetMetricStatistics') {
      yield* this.streamStatistics(requests, from, to);
      return;
    }
    const pending = new Map<string, InstanceMetrics>();
    const queries: { query: MetricDataQuery; instanceId: string; series: SeriesName; last: boolean }[] = [];
    requests.forEach((r, i) => {
      r.queries.forEach((q, k) => {
        queries.push({
          instanceId: r.instanceId,
          series: q.series,
          last: k === r.queries.length - 1,
          query: {
            Id: `${q.series.toLowerCase()}${i}`,
            MetricStat: {
              Metric: {
                Namespace: q.namespace,
                MetricName: q.metricName,
                Dimensions: q.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
              },
              Period: METRIC_PERIOD_SECONDS,
              Stat: q.stat,
            },
            ReturnData: true,
          },
        });
      });
    });

    for (const batch of chunk(queries, MAX_QUERIES_PER_CALL)) {
      const byId = new Map(batch.map((q) => [q.query.Id as string, q]));
      for (const q of batch) {
        let m = pending.get(q.instanceId);
        if (!m) {
          m = {};
          pending.set(q.instanceId, m);
        }
        m[q.series] = [];
      }
      let token: string | undefined;
      do {
        this.calls++;
        const res = await this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: batch.map((q) => q.query),
            StartTime: from,
            EndTime: to,
            ScanBy: 'TimestampAscending',
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const result of res.MetricDataResults ?? []) {
          const q = result.Id ? byId.get(result.Id) : undefined;
          const points = q ? pending.get(q.instanceId)?.[q.series] : undefined;
          if (!points) continue;
          const ts = result.Timestamps ?? [];
          const values = result.Values ?? [];
          for (let k = 0; k < ts.length && k < values.length; k++) {
            const t = ts[k];
            const v = values[k];
            if (t !== undefined && v !== undefined) points.push({ at: new Date(t).getTime(), value: v });
          }
        }
        token = res.NextToken;
      } while (token);
      const done: [string, InstanceMetrics][] = [];
      for (const q of batch) {
        const m = q.last ? pending.get(q.instanceId) : undefined;
        if (!m) continue;
        pending.delete(q.instanceId);
        done.push([q.instanceId, m]);
      }
      yield done;
    }
  }

  /**
   * One GetMetricStatistics call per series, a few in flight at once, handed back STATISTICS_BATCH resources at a
   * time. GetMetricStatistics falls under CloudWatch's 1,000,000 free API requests a month; GetMetricData has no
   * free tier (chooseMetricsApi() in src/core/self-cost.ts picks).
   */
  private async *streamStatistics(
    requests: MetricsRequest[],
    from: Date,
    to: Date,
  ): AsyncGenerator<[instanceId: string, metrics: InstanceMetrics][]> {
    for (const batch of chunk(requests, STATISTICS_BATCH)) {
      const calls = batch.flatMap((r) => r.queries.map((q) => ({ instanceId: r.instanceId, q })));
      const points = await mapBounded(calls, STATISTICS_CALLS_IN_PARALLEL, ({ q }) => this.statistics(q, from, to));
      const out = new Map<string, InstanceMetrics>(batch.map((r) => [r.instanceId, {}]));
      calls.forEach(({ instanceId, q }, k) => {
        const m = out.get(instanceId) as InstanceMetrics;
        m[q.series] = points[k] ?? [];
      });
      yield [...out];
    }
  }

  private async statistics(q: SeriesQuery, from: Date, to: Date) {
    this.calls++;
    const res = await this.client.send(
      new GetMetricStatisticsCommand({
        Namespace: q.namespace,
        MetricName: q.metricName,
        Dimensions: q.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
        StartTime: from,
        EndTime: to,
        Period: METRIC_PERIOD_SECONDS,
        Statistics: [q.stat],
      }),
    );
    return (res.Datapoints ?? [])
      .map((d: Datapoint) => ({ at: d.Timestamp ? new Date(d.Timestamp).getTime() : Number.NaN, value: d[q.stat] }))
      .filter((p): p is { at: number; value: number } => Number.isFinite(p.at) && typeof p.value === 'number')
      .sort((a, b) => a.at - b.at);
  }
}
