/**
 * What the watchdog knows about one instance and its metrics: plain data, the same whether it came from
 * DescribeInstances, a snapshot file or a test. The snapshot format (see snapshot.ts) is this, serialised.
 */

/** Facts about an instance type from DescribeInstanceTypes (per account and region). */
export interface InstanceTypeInfo {
  /** FreeTierEligible for this account and region. Unknown (lookup failed) is `undefined`, never "free". */
  freeTierEligible?: boolean;
  /** Has GPUs (GpuInfo present). */
  gpu: boolean;
  vcpus?: number;
  memoryMiB?: number;
  /** Supports hibernation (HibernationSupported). */
  hibernationSupported?: boolean;
}

/** One running instance. */
export interface Instance {
  instanceId: string;
  region: string;
  /** Account id when sweeping several accounts. */
  account?: string;
  instanceType: string;
  /** ISO time of the last start (EC2 LaunchTime). */
  launchTime: string;
  tags: Record<string, string>;
  /** `spot` or `scheduled` for non-on-demand instances (InstanceLifecycle); absent for on-demand. */
  lifecycle?: string;
  /** `ebs` or `instance-store`. */
  rootDeviceType: string;
  /** Launched with hibernation enabled (HibernationOptions.Configured). */
  hibernationConfigured?: boolean;
  /** Stop protection (DisableApiStop), looked up only before a stop or a new warning; undefined = not yet. */
  stopProtected?: boolean;
  /** Public IPv4 address, if any. */
  publicIp?: string;
  /** Security group ids. */
  securityGroupIds?: string[];
  /**
   * The AWS service that manages the instance (DescribeInstances `Operator.Principal` when `Operator.Managed`),
   * e.g. `eks.amazonaws.com` for EKS Auto Mode nodes. Set by AWS; a user cannot forge it.
   */
  operator?: string;
  typeInfo?: InstanceTypeInfo;
}

/** One datapoint: epoch milliseconds and value. */
export interface Point {
  at: number;
  value: number;
}

/**
 * The metric series the idle rule reads: for EC2, CPUUtilization (Average, %), NetworkIn and NetworkOut (Sum,
 * bytes per period), and GPU utilisation (Average, %) where the CloudWatch agent publishes it.
 */
export type SeriesName = 'cpu' | 'networkIn' | 'networkOut' | 'gpu';

/** CloudWatch datapoints at a 5-minute period, per series. A series that was asked for and has no data is []. */
export type InstanceMetrics = { [S in SeriesName]?: Point[] };

/** The datapoint period the watchdog asks CloudWatch for (basic monitoring publishes every 5 minutes). */
export const METRIC_PERIOD_SECONDS = 300;

/** Reads a tag. */
export function tagOf(instance: Instance, key: string): string | undefined {
  return instance.tags[key];
}

/** The display name: the Name tag, else the id. */
export function displayName(instance: Instance): string {
  return instance.tags.Name ?? instance.instanceId;
}

/** Which instance a decision or a launch verdict is about, as alerts and reports name it. */
export interface InstanceRef {
  instanceId: string;
  region: string;
  account?: string;
  instanceType: string;
  /** The Name tag. */
  name?: string;
  /** The owner tag (policy tags.owner), when it is set and not blank. */
  owner?: string;
}

/** The InstanceRef of an instance; `ownerTag` is the policy's owner tag key. */
export function instanceRef(instance: Instance, ownerTag: string): InstanceRef {
  const owner = instance.tags[ownerTag];
  return {
    instanceId: instance.instanceId,
    region: instance.region,
    ...(instance.account !== undefined ? { account: instance.account } : {}),
    instanceType: instance.instanceType,
    ...(instance.tags.Name !== undefined ? { name: instance.tags.Name } : {}),
    ...(owner !== undefined && owner.trim() !== '' ? { owner } : {}),
  };
}
