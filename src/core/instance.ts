/**
 * What the watchdog knows about one instance and its metrics: plain data, the same whether it came from
 * DescribeInstances, a snapshot file or a test. The snapshot format (see snapshot.ts) is this, serialised.
 */

import type { ResourceKind } from './names.js';

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
  /**
   * Which free-tier allowance applies and how it is counted, where it is limited in time (SageMaker's first
   * 2 months, RDS's first 12 months): the watchdog cannot see the account's age, so it says so.
   */
  freeTierNote?: string;
}

/**
 * What kind of resource a watched "instance" is: an EC2 instance, a SageMaker notebook instance, an RDS DB
 * instance, or an Aurora / Multi-AZ DB cluster (whose member instances are stopped through it). Spelled out in
 * names.ts (RESOURCE_KINDS).
 */
export type { ResourceKind };

/** One running instance (or notebook instance, or DB instance / cluster: see `kind`). */
export interface Instance {
  /** Absent = an EC2 instance. */
  kind?: ResourceKind;
  /** The EC2 instance id, the notebook instance name, or the DB instance / cluster identifier. */
  instanceId: string;
  region: string;
  /** Account id when sweeping several accounts. */
  account?: string;
  /** The EC2 instance type, the notebook's ml.* type or the DB instance class (db.*). */
  instanceType: string;
  /**
   * ISO time of the last start: EC2 LaunchTime; for a notebook its LastModifiedTime while InService; for a
   * database the latest of its creation, the watchdog's own stop (stopped-at tag) and its last start event.
   */
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
  /** The resource's ARN, where its service tags by ARN (SageMaker, RDS). */
  arn?: string;
  /** GiB of storage that is still billed while it is stopped (notebook volume, RDS allocated storage). */
  storageGb?: number;
  /** RDS storage type (gp2, gp3, io1, io2, standard), for the price of that storage. */
  storageType?: string;
  /** RDS engine (mysql, postgres, aurora-postgresql, sqlserver-ex, ...). */
  engine?: string;
  /** RDS Multi-AZ (never free tier; costs twice as much). */
  multiAz?: boolean;
  /**
   * Why the service refuses to stop this resource (a read replica, the source of read replicas, SQL Server
   * Multi-AZ, Aurora Serverless v1...): it is reported, never stopped.
   */
  cannotStop?: string;
  /** RDS: its last start was AWS's own, because it had been stopped for 7 days (RDS-EVENT-0154 / 0153). */
  restartedByAws?: boolean;
}

/** One datapoint: epoch milliseconds and value. */
export interface Point {
  at: number;
  value: number;
}

/**
 * The metric series the idle rule reads: for EC2, CPUUtilization (Average, %), NetworkIn and NetworkOut (Sum,
 * bytes per period), and GPU utilisation (Average, %) where the CloudWatch agent publishes it; for RDS,
 * CPUUtilization and DatabaseConnections (Maximum).
 */
export type SeriesName = 'cpu' | 'networkIn' | 'networkOut' | 'gpu' | 'connections';

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
  /** Absent = an EC2 instance. */
  kind?: ResourceKind;
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
    ...(instance.kind !== undefined && instance.kind !== 'ec2' ? { kind: instance.kind } : {}),
    instanceId: instance.instanceId,
    region: instance.region,
    ...(instance.account !== undefined ? { account: instance.account } : {}),
    instanceType: instance.instanceType,
    ...(instance.tags.Name !== undefined ? { name: instance.tags.Name } : {}),
    ...(owner !== undefined && owner.trim() !== '' ? { owner } : {}),
  };
}
