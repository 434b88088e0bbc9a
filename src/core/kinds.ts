/**
 * What differs between the kinds of watched resource: their names in alerts, their policy (policyForKind), their
 * type facts (free tier from the policy's lists for notebooks and databases), and what each needs from the metrics
 * port for its idle rule. EC2 instances: CPU, network in and out, and GPU utilisation where the CloudWatch agent
 * publishes it (GPU types only). RDS: CPU and connections. SageMaker notebooks: none (their activity is a tag).
 */
import {
  type Instance,
  type InstanceMetrics,
  type InstanceTypeInfo,
  METRIC_PERIOD_SECONDS,
} from './instance.js';
import type { ResourceKind } from './names.js';
import type { Policy } from './policy.js';
import type { MetricsRequest, SeriesQuery } from './ports.js';

/** The kind of a resource (absent = EC2). */
export function kindOf(resource: { kind?: ResourceKind | undefined }): ResourceKind {
  return resource.kind ?? 'ec2';
}

/** What alerts, pages and tables call one resource of each kind. */
export const KIND_NAMES: Readonly<Record<ResourceKind, string>> = {
  ec2: 'instance',
  'sagemaker-notebook': 'notebook',
  'rds-instance': 'database',
  'rds-cluster': 'database cluster',
};

/** Where the owner starts a stopped resource of each kind again. */
export const KIND_CONSOLES: Readonly<Record<ResourceKind, string>> = {
  ec2: 'the EC2 console',
  'sagemaker-notebook': 'the SageMaker console (Notebook instances)',
  'rds-instance': 'the RDS console (Databases)',
  'rds-cluster': 'the RDS console (Databases)',
};

/** The API operations named in errors, per kind (list, stop, tag, untag). */
const KIND_OPERATIONS: Readonly<
  Record<ResourceKind, { service: string; list: string; types: string; ops: Record<string, string> }>
> = {
  ec2: { service: 'ec2', list: 'DescribeInstances', types: 'DescribeInstanceTypes', ops: {} },
  'sagemaker-notebook': {
    service: 'sagemaker',
    list: 'ListNotebookInstances',
    types: 'instance types',
    ops: { StopInstances: 'StopNotebookInstance', CreateTags: 'AddTags', DeleteTags: 'DeleteTags' },
  },
  'rds-instance': {
    service: 'rds',
    list: 'DescribeDBInstances',
    types: 'instance classes',
    ops: {
      StopInstances: 'StopDBInstance',
      CreateTags: 'AddTagsToResource',
      DeleteTags: 'RemoveTagsFromResource',
    },
  },
  'rds-cluster': {
    service: 'rds',
    list: 'DescribeDBClusters',
    types: 'instance classes',
    ops: {
      StopInstances: 'StopDBCluster',
      CreateTags: 'AddTagsToResource',
      DeleteTags: 'RemoveTagsFromResource',
    },
  },
};

/**
 * An operation as a run's errors name it for `kind`: `list` / `types` (the listing and type lookups), or one of
 * enforce's operations (`StopInstances`, `CreateTags (warning)`, ...) in the kind's own API words, e.g.
 * `rds:StopDBCluster`.
 */
export function kindOperation(kind: ResourceKind, operation: string): string {
  const k = KIND_OPERATIONS[kind];
  if (operation === 'list') return `${k.service}:${k.list}`;
  if (operation === 'types') return `${k.service}:${k.types}`;
  const [verb = '', ...rest] = operation.split(' ');
  return `${k.service}:${[k.ops[verb] ?? verb, ...rest].join(' ')}`;
}

/** The policy section of a kind besides EC2, or null for EC2. */
function sectionOf(policy: Policy, kind: ResourceKind) {
  return kind === 'sagemaker-notebook'
    ? policy.notebooks
    : kind === 'rds-instance' || kind === 'rds-cluster'
      ? policy.databases
      : null;
}

/** Whether the policy watches resources of this kind (EC2 always). */
export function kindEnabled(policy: Policy, kind: ResourceKind): boolean {
  return sectionOf(policy, kind)?.enabled ?? true;
}

/** The entries of `o` that are set (an optional override left out means "the EC2 value"). */
function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/**
 * The policy a resource of `kind` is evaluated with: the EC2 policy with that kind's section (notebooks /
 * databases) applied over it: grace, idle window and thresholds, uptime limits, and its allowed types as
 * nonFreeTier.allowedTypes. Pure; EC2 gets the policy unchanged.
 */
export function policyForKind(policy: Policy, kind: ResourceKind): Policy {
  const section = sectionOf(policy, kind);
  if (!section) return policy;
  return {
    ...policy,
    ...defined({ graceMinutes: section.graceMinutes }),
    idle: { ...policy.idle, ...defined(section.idle) },
    maxRunningHours: { ...policy.maxRunningHours, ...defined(section.maxRunningHours) },
    nonFreeTier: { ...policy.nonFreeTier, allowedTypes: section.allowedTypes },
  };
}

/**
 * Type facts of a resource under the policy: EC2's come from DescribeInstanceTypes (`described`), unchanged. A
 * notebook's or database's free-tier eligibility comes from the policy's freeTierTypes list (a database only when
 * Single-AZ; an Aurora cluster never), with a note saying which allowance that is and that it is time-limited.
 */
export function kindTypeInfo(
  instance: Instance,
  policy: Policy,
  described: InstanceTypeInfo | undefined,
): InstanceTypeInfo | undefined {
  const kind = kindOf(instance);
  const type = instance.instanceType;
  if (kind === 'ec2') return described;
  const base: InstanceTypeInfo = { ...described, gpu: described?.gpu ?? /^ml\.(p|g)\d/.test(type) };
  if (kind === 'sagemaker-notebook') {
    const free = policy.notebooks.freeTierTypes.includes(type);
    return {
      ...base,
      freeTierEligible: free,
      ...(free
        ? {
            freeTierNote: `free tier: SageMaker gives 250 h a month of ${type} notebooks in the first 2 months of SageMaker use only (the watchdog cannot see when that began; notebooks.freeTierTypes)`,
          }
        : {}),
    };
  }
  const aurora = instance.engine?.startsWith('aurora') === true;
  const free = !aurora && instance.multiAz !== true && policy.databases.freeTierTypes.includes(type);
  return {
    ...base,
    freeTierEligible: free,
    ...(free
      ? {
          freeTierNote: `free tier: RDS's legacy free tier gives 750 h a month of Single-AZ ${type} and 20 GB of storage for 12 months after the account was created (the watchdog cannot see when; databases.freeTierTypes)`,
        }
      : {}),
  };
}

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
      // Maximum per period: anyone with the GPU metrics role can publish into this series (IAM cannot restrict the
      // dimensions), and low values sent for someone else's instance must not pull a busy GPU's figure down.
      ...(gpu ? [q('gpu', GPU_METRIC.namespace, GPU_METRIC.name, 'Maximum')] : []),
    ],
  };
}

/** The series a database's idle rule reads: connections (Maximum) and CPU (Average), per instance or cluster. */
export function rdsMetricsRequest(identifier: string, cluster: boolean): MetricsRequest {
  const dimensions = [{ name: cluster ? 'DBClusterIdentifier' : 'DBInstanceIdentifier', value: identifier }];
  return {
    instanceId: identifier,
    queries: [
      {
        series: 'connections',
        namespace: 'AWS/RDS',
        metricName: 'DatabaseConnections',
        dimensions,
        stat: 'Maximum',
      },
      { series: 'cpu', namespace: 'AWS/RDS', metricName: 'CPUUtilization', dimensions, stat: 'Average' },
    ],
  };
}

/**
 * Every series the idle rule of a watched resource can read, by its kind (snapshots record them all). A notebook
 * reads none: its evidence is its own activity tag, never CPU.
 */
export function metricsRequestFor(instance: Instance): MetricsRequest {
  switch (kindOf(instance)) {
    case 'ec2':
      return ec2MetricsRequest(instance.instanceId, instance.typeInfo?.gpu === true);
    case 'rds-instance':
      return rdsMetricsRequest(instance.instanceId, false);
    case 'rds-cluster':
      return rdsMetricsRequest(instance.instanceId, true);
    case 'sagemaker-notebook':
      return { instanceId: instance.instanceId, queries: [] };
  }
}

/**
 * CPU first: the first of two metric reads. A busy CPU decides "not idle" on its own, so network (and GPU) is read
 * only for instances whose CPU is low (secondStageRequest). For a busy class this reads one series per instance
 * instead of three, which is what the metric APIs bill.
 */
export function firstStageRequest(instance: Instance): MetricsRequest {
  const full = metricsRequestFor(instance);
  // Other kinds read their few series at once.
  if (kindOf(instance) !== 'ec2') return full;
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
  if (kindOf(instance) !== 'ec2') return null;
  const idle = policy.idle;
  const from = now.getTime() - idle.windowHours * 3_600_000;
  const expected = Math.max(1, Math.round((idle.windowHours * 3600) / METRIC_PERIOD_SECONDS));
  const points = (cpu.cpu ?? []).filter(
    (p) => p.at > from && p.at <= now.getTime() && Number.isFinite(p.value),
  );
  if (points.length < Math.ceil(expected * idle.minDatapointCoverage)) return null;
  const avg = points.reduce((s, p) => s + p.value, 0) / points.length;
  if (avg >= idle.cpuPercent) return null;
  const full = metricsRequestFor(instance);
  return { instanceId: full.instanceId, queries: full.queries.filter((q) => q.series !== 'cpu') };
}

/**
 * When a notebook or database was last started, as far as its service tells: the latest of `times` (creation,
 * last modification, start events) and of the watchdog's own stopped-at tag (a resource that runs again after the
 * watchdog stopped it was started after that). A time in the future only makes it look younger (never idle or
 * over its uptime sooner). ISO, or '' when none is known (uptime then unknown).
 */
export function runningSince(
  times: readonly (Date | string | undefined)[],
  stoppedAtTag: string | undefined,
): string {
  let latest = Number.NEGATIVE_INFINITY;
  for (const t of [...times, stoppedAtTag]) {
    const ms = t instanceof Date ? t.getTime() : t === undefined ? Number.NaN : Date.parse(t);
    if (Number.isFinite(ms) && ms > latest) latest = ms;
  }
  return Number.isFinite(latest) ? new Date(latest).toISOString() : '';
}
