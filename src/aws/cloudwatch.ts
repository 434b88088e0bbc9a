import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { type InstanceMetrics, METRIC_PERIOD_SECONDS } from '../core/instance.js';
import { chunk } from './clients.js';

/** IAM actions this adapter uses. */
export const CLOUDWATCH_SWEEP_PERMISSIONS = ['cloudwatch:GetMetricData'] as const;

/** GetMetricData accepts at most 500 queries per call. */
export const MAX_QUERIES_PER_CALL = 500;

/** The GPU utilisation metric the CloudWatch agent publishes (nvidia_smi plugin, InstanceId dimension). */
export const GPU_METRIC = { namespace: 'CWAgent', name: 'nvidia_smi_utilization_gpu' } as const;

type Series = keyof InstanceMetrics;

/** What to fetch for one instance. */
export interface MetricsRequest {
  instanceId: string;
  gpu: boolean;
}

/** CloudWatch for the sweep: datapoints for the instances that could be idle, in as few calls as possible. */
export class MetricsAdapter {
  /** GetMetricData calls made by this adapter (the benchmark and tests count them). */
  calls = 0;

  constructor(private readonly client: CloudWatchClient) {}

  /**
   * CPUUtilization (Average), NetworkIn and NetworkOut (Sum) at a 5-minute period, plus GPU utilisation for
   * GPU types, from `from` to `to`, batching up to 500 queries per GetMetricData call. Instances without
   * datapoints get empty series (which evaluate() treats as unknown, never idle).
   * Each instance is handed over as soon as its series are complete: after every GetMetricData batch, the
   * instances whose last query was in it. The caller can judge them and let their
   * datapoints go, so a sweep of 10,000 instances holds one batch of datapoints at a time, not all of them
   * (docs/scale.md). A failing call ends the stream with its error; instances not yet handed over have no
   * metrics (never idle).
   */
  async *stream(
    requests: MetricsRequest[],
    from: Date,
    to: Date,
  ): AsyncGenerator<[instanceId: string, metrics: InstanceMetrics][]> {
    const pending = new Map<string, InstanceMetrics>();
    const queries: { query: MetricDataQuery; instanceId: string; series: Series; last: boolean }[] = [];
    requests.forEach((r, i) => {
      const add = (series: Series, namespace: string, metric: string, stat: string, last = false) =>
        queries.push({
          instanceId: r.instanceId,
          series,
          last,
          query: {
            Id: `${series.toLowerCase()}${i}`,
            MetricStat: {
              Metric: {
                Namespace: namespace,
                MetricName: metric,
                Dimensions: [{ Name: 'InstanceId', Value: r.instanceId }],
              },
              Period: METRIC_PERIOD_SECONDS,
              Stat: stat,
            },
            ReturnData: true,
          },
        });
      add('cpu', 'AWS/EC2', 'CPUUtilization', 'Average');
      add('networkIn', 'AWS/EC2', 'NetworkIn', 'Sum');
      add('networkOut', 'AWS/EC2', 'NetworkOut', 'Sum', !r.gpu);
      if (r.gpu) add('gpu', GPU_METRIC.namespace, GPU_METRIC.name, 'Average', true);
    });

    for (const batch of chunk(queries, MAX_QUERIES_PER_CALL)) {
      const byId = new Map(batch.map((q) => [q.query.Id as string, q]));
      for (const q of batch) {
        if (!pending.has(q.instanceId)) pending.set(q.instanceId, { cpu: [], networkIn: [], networkOut: [] });
        if (q.series === 'gpu') (pending.get(q.instanceId) as InstanceMetrics).gpu = [];
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
}
