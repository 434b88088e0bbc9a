/**
 * What each kind of watched resource needs from the metrics port for its idle rule. EC2 instances are the first
 * kind: CPU, network in and out, and GPU utilisation where the CloudWatch agent publishes it (GPU types only).
 */
import { type Instance, type InstanceMetrics, METRIC_PERIOD_SECONDS } from './instance.js';
import type { Policy, ResourceKind } from './policy.js';
import type { MetricsRequest, SeriesQuery } from './ports.js';

/** The GPU utilisation metric the CloudWatch agent publishes (nvidia_smi plugin, InstanceId dimension). */
export const GPU_METRIC = { namespace: 'CWAgent', name: 'nvidia_smi_utilization_gpu' } as const;

/** The kind of a watched resource (every Instance is an EC2 instance today). */
export function kindOf(_resource: Instance): ResourceKind {
  return 'ec2';
}

/** The series an EC2 instance's idle rule reads (GPU only for GPU types). */
export function ec2MetricsRequest(instanceId: string, gpu: boolean): MetricsRequest {
  const dimensions = [{ name: 'InstanceId', value: instanceId }];
  const q = (
    series: SeriesQuery['series'],
    namespace: string,
    metricName: string,
    stat: SeriesQuery['stat'],
  ): SeriesQuery => ({ series, namespace, metricName, dimensions, stat });
  return {
    instanceId,
    queries: [
      q('cpu', 'AWS/EC2', 'CPUUtilization', 'Average'),
      q('networkIn', 'AWS/EC2', 'NetworkIn', 'Sum'),
      q('networkOut', 'AWS/EC2', 'NetworkOut', 'Sum'),
      ...(gpu ? [q('gpu', GPU_METRIC.namespace, GPU_METRIC.name, 'Average')] : []),
    ],
  };
}

/** Every series the idle rule of a watched resource can read, by its kind (snapshots record them all). */
export function metricsRequestFor(instance: Instance): MetricsRequest {
  return ec2MetricsRequest(instance.instanceId, instance.typeInfo?.gpu === true);
}

/**
 * CPU first: the first of two metric reads. A busy CPU decides "not idle" on its own, so network (and GPU) is read
 * only for instances whose CPU is low (secondStageRequest). For a busy class this reads one series per instance
 * instead of three, which is what the metric APIs bill.
 */
export function firstStageRequest(instance: Instance): MetricsRequest {
  const full = metricsRequestFor(instance);
  return { instanceId: full.instanceId, queries: full.queries.filter((q) => q.series === 'cpu') };
}

/**
 * The rest of the series for an instance whose first-stage CPU did not decide (low CPU over enough datapoints),
 * or null when nothing more is needed (CPU busy, or too few CPU datapoints: unknown either way).
 */
export function secondStageRequest(
  instance: Instance,
  cpu: InstanceMetrics,
  policy: Policy,
  now: Date,
): MetricsRequest | null {
  const idle = policy.idle;
  const from = now.getTime() - idle.windowHours * 3_600_000;
  const expected = Math.max(1, Math.round((idle.windowHours * 3600) / METRIC_PERIOD_SECONDS));
  const points = (cpu.cpu ?? []).filter((p) => p.at > from && p.at <= now.getTime() && Number.isFinite(p.value));
  if (points.length < Math.ceil(expected * idle.minDatapointCoverage)) return null;
  const avg = points.reduce((s, p) => s + p.value, 0) / points.length;
  if (avg >= idle.cpuPercent) return null;
  const full = metricsRequestFor(instance);
  return { instanceId: full.instanceId, queries: full.queries.filter((q) => q.series !== 'cpu') };
}
