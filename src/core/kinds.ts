/**
 * What each kind of watched resource needs from the metrics port for its idle rule. EC2 instances are the first
 * kind: CPU, network in and out, and GPU utilisation where the CloudWatch agent publishes it (GPU types only).
 */
import type { Instance } from './instance.js';
import type { MetricsRequest, SeriesQuery } from './ports.js';

/** The GPU utilisation metric the CloudWatch agent publishes (nvidia_smi plugin, InstanceId dimension). */
export const GPU_METRIC = { namespace: 'CWAgent', name: 'nvidia_smi_utilization_gpu' } as const;

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

/** The metrics request of a watched resource, by its kind. */
export function metricsRequestFor(instance: Instance): MetricsRequest {
  return ec2MetricsRequest(instance.instanceId, instance.typeInfo?.gpu === true);
}
