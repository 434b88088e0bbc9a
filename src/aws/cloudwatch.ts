import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { type InstanceMetrics, METRIC_PERIOD_SECONDS, type Point } from '../core/instance.js';
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
   */
  async fetch(requests: MetricsRequest[], from: Date, to: Date): Promise<Map<string, InstanceMetrics>> {
    const out = new Map<string, InstanceMetrics>();
    const queries: { query: MetricDataQuery; instanceId: string; series: Series }[] = [];
    requests.forEach((r, i) => {
      out.set(r.instanceId, { cpu: [], networkIn: [], networkOut: [], ...(r.gpu ? { gpu: [] } : {}) });
      const add = (series: Series, namespace: string, metric: string, stat: string) =>
        queries.push({
          instanceId: r.instanceId,
          series,
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
      add('networkOut', 'AWS/EC2', 'NetworkOut', 'Sum');
      if (r.gpu) add('gpu', GPU_METRIC.namespace, GPU_METRIC.name, 'Average');
    });

    for (const batch of chunk(queries, MAX_QUERIES_PER_CALL)) {
      const byId = new Map(batch.map((q) => [q.query.Id as string, q]));
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
          const target = q ? out.get(q.instanceId) : undefined;
          if (!q || !target) continue;
          const points: Point[] = target[q.series] ?? [];
          const ts = result.Timestamps ?? [];
          const values = result.Values ?? [];
          for (let k = 0; k < ts.length && k < values.length; k++) {
            const t = ts[k];
            const v = values[k];
            if (t !== undefined && v !== undefined) points.push({ at: new Date(t).getTime(), value: v });
          }
          target[q.series] = points;
        }
        token = res.NextToken;
      } while (token);
    }
    return out;
  }
}
