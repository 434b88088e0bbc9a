import {
  type CloudWatchClient,
  type Datapoint,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import {
  type InstanceMetrics,
  METRIC_PERIOD_SECONDS,
  type Point,
  type SeriesName,
} from '../core/instance.js';
import type { MetricsPort, MetricsRequest, SeriesQuery, StreamOptions } from '../core/ports.js';
import { aheadInOrder, chunk, limiter, mapBounded } from './clients.js';
import { readRawAnswer } from './raw-answer.js';

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
      const res = await this.dataCalls(async () => {
        this.calls++;
        const command = new GetMetricDataCommand({
          MetricDataQueries: batch.map((q) => q.query),
          StartTime: from,
          EndTime: to,
          ScanBy: 'TimestampAscending',
          ...(token ? { NextToken: token } : {}),
        });
        let read: SeriesData[] | undefined;
        command.middlewareStack.add(
          readRawAnswer((json) => {
            const answer = metricDataOf(json);
            if (!answer) return undefined;
            read = answer.series;
            return answer.rest;
          }),
          { step: 'deserialize', priority: 'low', name: 'costWatchdogReadRawMetricData' },
        );
        const output = await this.client.send(command);
        return { output, read };
      });
      for (const series of res.read ?? (res.output.MetricDataResults ?? []).map(seriesOf)) {
        const k = series.id === undefined ? undefined : index.get(series.id);
        const into = k === undefined ? undefined : points[k];
        if (!into) continue;
        const n = Math.min(series.at.length, series.values.length);
        for (let j = 0; j < n; j++) {
          const at = series.at[j];
          const value = series.values[j];
          if (at !== undefined && value !== undefined) into.push({ at, value });
        }
      }
      token = res.output.NextToken;
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

/** One series of a GetMetricData answer: its query's id, its datapoints' times (epoch ms) and values. */
interface SeriesData {
  id: string | undefined;
  at: number[];
  values: number[];
}

/** A series as the SDK gives it. */
function seriesOf(result: MetricDataResult): SeriesData {
  return {
    id: result.Id,
    at: (result.Timestamps ?? []).map((t) => t.getTime()),
    values: result.Values ?? [],
  };
}

/** A number of a JSON answer as the SDK reads one (a number, or NaN / Infinity / -Infinity as text). */
function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
  return undefined;
}

/**
 * The series of a raw GetMetricData answer (JSON: timestamps in epoch seconds), without turning each timestamp
 * into a Date as the SDK does (a sweep of 10,000 instances reads some 300,000 datapoints), and the answer the SDK is
 * to read instead (everything else: NextToken, Messages). Undefined when the answer is not as expected (the SDK
 * then reads it whole, as it always does); test/unit/metric-data-raw.test.ts compares the two.
 */
export function metricDataOf(json: string): { series: SeriesData[]; rest: string } | undefined {
  let answer: unknown;
  try {
    answer = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof answer !== 'object' || answer === null) return undefined;
  const results = (answer as { MetricDataResults?: unknown }).MetricDataResults ?? [];
  if (!Array.isArray(results)) return undefined;
  const series: SeriesData[] = [];
  for (const r of results as { Id?: unknown; Timestamps?: unknown; Values?: unknown }[]) {
    const times = r?.Timestamps ?? [];
    const values = r?.Values ?? [];
    if (!Array.isArray(times) || !Array.isArray(values)) return undefined;
    const at: number[] = new Array(times.length);
    for (let j = 0; j < times.length; j++) {
      const x: unknown = times[j];
      const t = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : Number.NaN;
      if (!Number.isFinite(t)) return undefined;
      at[j] = Math.round(t * 1000);
    }
    const read: number[] = new Array(values.length);
    for (let j = 0; j < values.length; j++) {
      const v = numberOf(values[j]);
      if (v === undefined) return undefined;
      read[j] = v;
    }
    series.push({ id: typeof r?.Id === 'string' ? r.Id : undefined, at, values: read });
  }
  return { series, rest: JSON.stringify({ ...answer, MetricDataResults: [] }) };
}
