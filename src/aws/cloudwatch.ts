import {
  type CloudWatchClient,
  type Datapoint,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import {
  type InstanceMetrics,
  METRIC_PERIOD_SECONDS,
  type Point,
  type SeriesName,
} from '../core/instance.js';
import type { MetricsPort, MetricsRequest, SeriesQuery, StreamOptions } from '../core/ports.js';
import { aheadInOrder, chunk, limiter, mapBounded } from './clients.js';

/** IAM actions this adapter uses. */
export const CLOUDWATCH_SWEEP_PERMISSIONS = [
  'cloudwatch:GetMetricData',
  'cloudwatch:GetMetricStatistics',
] as const;

/**
 * GetMetricStatistics calls one adapter (one account x region) keeps in flight at once. CloudWatch allows 400 a
 * second per region; 25 in flight at a quarter of a second each is 100 a second.
 */
export const STATISTICS_CALLS_IN_PARALLEL = 25;

/**
 * GetMetricData calls one adapter keeps in flight at once, over all its streams (CloudWatch allows 50 a second
 * per region). Latency, not the call count, sets the wall time of a big sweep: 8 batches of 500 series at once.
 */
export const METRIC_DATA_CALLS_IN_PARALLEL = 8;

/** Resources per batch handed back by the GetMetricStatistics path. */
const STATISTICS_BATCH = 100;

/** GetMetricData accepts at most 500 queries per call. */
export const MAX_QUERIES_PER_CALL = 500;

interface Query {
  query: MetricDataQuery;
  instanceId: string;
  series: SeriesName;
  last: boolean;
}

/** CloudWatch for the sweep: datapoints for the resources that could be idle, in as few calls as possible. */
export class MetricsAdapter implements MetricsPort {
  /** GetMetricData calls made by this adapter (the benchmark and tests count them). */
  calls = 0;
  private readonly dataCalls = limiter(METRIC_DATA_CALLS_IN_PARALLEL);
  private readonly statisticsCalls = limiter(STATISTICS_CALLS_IN_PARALLEL);

  constructor(private readonly client: CloudWatchClient) {}

  /**
   * Every series of every request at the 5-minute period, from `from` to `to`, batching up to 500 queries per
   * GetMetricData call (following NextToken pages). Resources without datapoints get empty series (which
   * evaluate() treats as unknown, never idle). Up to METRIC_DATA_CALLS_IN_PARALLEL batches are fetched at once,
   * and each resource is handed over, in request order, as soon as its series are complete: after every batch,
   * the resources whose last query was in it. The caller can judge them and let their datapoints go, so a sweep of
   * 10,000 instances holds a few batches of datapoints at a time, not all of them (docs/scale.md). A failing call
   * ends the stream with its error, in its turn; resources not yet handed over have no metrics (never idle).
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
    const queries: Query[] = [];
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

    const pending = new Map<string, InstanceMetrics>();
    const batches = chunk(queries, MAX_QUERIES_PER_CALL);
    for await (const { batch, points } of aheadInOrder(batches, METRIC_DATA_CALLS_IN_PARALLEL, (batch) =>
      this.fetchBatch(batch, from, to),
    )) {
      const done: [string, InstanceMetrics][] = [];
      batch.forEach((q, k) => {
        let m = pending.get(q.instanceId);
        if (!m) {
          m = {};
          pending.set(q.instanceId, m);
        }
        m[q.series] = points[k] as Point[];
        if (q.last) {
          pending.delete(q.instanceId);
          done.push([q.instanceId, m]);
        }
      });
      yield done;
    }
  }

  /** One batch of at most 500 queries, all its NextToken pages: the datapoints of each query, in batch order. */
  private async fetchBatch(
    batch: Query[],
    from: Date,
    to: Date,
  ): Promise<{ batch: Query[]; points: Point[][] }> {
    const index = new Map(batch.map((q, k) => [q.query.Id as string, k]));
    const points: Point[][] = batch.map(() => []);
    let token: string | undefined;
    do {
      const res = await this.dataCalls(() => {
        this.calls++;
        return this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: batch.map((q) => q.query),
            StartTime: from,
            EndTime: to,
            ScanBy: 'TimestampAscending',
            ...(token ? { NextToken: token } : {}),
          }),
        );
      });
      for (const result of res.MetricDataResults ?? []) {
        const k = result.Id === undefined ? undefined : index.get(result.Id);
        const into = k === undefined ? undefined : points[k];
        if (!into) continue;
        const ts = result.Timestamps ?? [];
        const values = result.Values ?? [];
        const n = Math.min(ts.length, values.length);
        for (let j = 0; j < n; j++) {
          const t = ts[j];
          const v = values[j];
          if (t !== undefined && v !== undefined) into.push({ at: t.getTime(), value: v });
        }
      }
      token = res.NextToken;
    } while (token);
    return { batch, points };
  }

  /**
   * One GetMetricStatistics call per series, STATISTICS_CALLS_IN_PARALLEL in flight at once, handed back
   * STATISTICS_BATCH resources at a time. GetMetricStatistics falls under CloudWatch's 1,000,000 free API requests a month; GetMetricData has no
   * free tier (chooseMetricsApi() in src/core/self-cost.ts picks).
   */
  private async *streamStatistics(
    requests: MetricsRequest[],
    from: Date,
    to: Date,
  ): AsyncGenerator<[instanceId: string, metrics: InstanceMetrics][]> {
    const fetch = async (batch: MetricsRequest[]) => {
      const calls = batch.flatMap((r) => r.queries.map((q) => ({ instanceId: r.instanceId, q })));
      const points = await mapBounded(calls, calls.length, ({ q }) =>
        this.statisticsCalls(() => this.statistics(q, from, to)),
      );
      const out = new Map<string, InstanceMetrics>(batch.map((r) => [r.instanceId, {}]));
      calls.forEach(({ instanceId, q }, k) => {
        const m = out.get(instanceId) as InstanceMetrics;
        m[q.series] = points[k] ?? [];
      });
      return [...out];
    };
    // The next batch is read while the caller looks at this one.
    yield* aheadInOrder(chunk(requests, STATISTICS_BATCH), 2, fetch);
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
      .map((d: Datapoint) => ({
        at: d.Timestamp ? new Date(d.Timestamp).getTime() : Number.NaN,
        value: d[q.stat],
      }))
      .filter((p): p is { at: number; value: number } => Number.isFinite(p.at) && typeof p.value === 'number')
      .sort((a, b) => a.at - b.at);
  }
}
