/**
 * An in-memory EC2 + CloudWatch for sweep tests: the same methods as Ec2Adapter and MetricsAdapter, backed by
 * plain maps, recording every mutating call and failing on demand. No SDK, no network.
 */
import type { AwsTarget } from '../../src/aws/clients.js';
import type { Ec2Fleet, SweepServices } from '../../src/aws/services.js';
import type { Instance, InstanceMetrics, InstanceTypeInfo, ResourceKind } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import type {
  FleetPort,
  MetricsPort,
  MetricsRequest,
  ResourceResult as InstanceResult,
  RestartPort,
} from '../../src/core/ports.js';
import type { Rule } from '../../src/core/rules.js';

/** The kinds besides EC2, each a fleet of its own in a target (like sdkSweepServices). */
const OTHER_KINDS: readonly ResourceKind[] = ['sagemaker-notebook', 'rds-instance', 'rds-cluster'];

/** One instance as the fake EC2 holds it. */
export interface FakeInstance {
  instance: Instance;
  state: 'running' | 'stopped' | 'terminated';
  /** DisableApiStop, as DescribeInstanceAttribute reports it. */
  stopProtected: boolean;
  /** Changes state (stopped by its owner, or terminated) between the describe and the stop of a sweep. */
  changesStateAfterDescribe?: 'stopped' | 'terminated';
}

/** The calls the fake can fail. */
export type FakeOperation =
  | 'listRunning'
  | 'describeTypes'
  | 'isStopProtected'
  | 'tag'
  | 'untag'
  | 'stop'
  | 'start'
  | 'listStopped'
  | 'metrics'
  | 'enabledRegions';

/** Decides whether a call fails: return an Error to throw (or to report per instance), undefined to succeed. */
export type FaultPlan = (
  operation: FakeOperation,
  region: string,
  instanceId?: string,
  kind?: ResourceKind,
) => Error | undefined;

/** One mutating call as the fake recorded it. */
export interface RecordedCall {
  operation: 'tag' | 'untag' | 'stop' | 'start';
  region: string;
  /** Every id the call named. */
  attempted: string[];
  /** The ids it succeeded for. */
  instanceIds: string[];
  tags?: Record<string, string>;
  keys?: string[];
  hibernate?: boolean;
  /** The kind of the fleet it was made on, when not EC2. */
  kind?: ResourceKind;
}

/** An AWS-style error with a name (what the SDK throws for an error code). */
export function awsError(name: string, message = name): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** A whole fake account: regions of instances, type facts, metrics, faults, and a log of what was changed. */
export class InMemoryFleet {
  readonly regions = new Map<string, Map<string, FakeInstance>>();
  readonly types = new Map<string, InstanceTypeInfo>();
  readonly metrics = new Map<string, InstanceMetrics>();
  readonly calls: RecordedCall[] = [];
  /** Every metric series read, as `instanceId/series` (what the metric APIs bill). */
  readonly seriesRead: string[] = [];
  fault: FaultPlan = () => undefined;

  /** Adds a running instance (its region comes from `instance.region`). */
  add(entry: FakeInstance): void {
    const region = this.regions.get(entry.instance.region) ?? new Map<string, FakeInstance>();
    region.set(entry.instance.instanceId, entry);
    this.regions.set(entry.instance.region, region);
  }

  /** Looks an instance up in any region. */
  find(instanceId: string): FakeInstance | undefined {
    for (const region of this.regions.values()) {
      const found = region.get(instanceId);
      if (found) return found;
    }
    return undefined;
  }

  /** SweepServices over this fleet: EC2, and one fleet per other kind (notebooks, databases). */
  services(): SweepServices {
    return {
      ec2: (target: AwsTarget) => new FakeEc2(this, target.region),
      restarts: (target: AwsTarget) => new FakeEc2(this, target.region),
      fleets: (target: AwsTarget): FleetPort[] =>
        OTHER_KINDS.map((kind) => new FakeEc2(this, target.region, kind)),
      metrics: (target: AwsTarget) => new FakeMetrics(this, target.region),
    };
  }

  /** Ids of instances that StopInstances actually stopped. */
  stoppedIds(): string[] {
    return this.calls.filter((c) => c.operation === 'stop').flatMap((c) => c.instanceIds);
  }

  /** Ids of instances that StartInstances actually started. */
  startedIds(): string[] {
    return this.calls.filter((c) => c.operation === 'start').flatMap((c) => c.instanceIds);
  }

  /** Ids of instances the sweep asked StopInstances to stop, whether or not EC2 did. */
  stopAttempts(): string[] {
    return this.calls.filter((c) => c.operation === 'stop').flatMap((c) => c.attempted);
  }
}

class FakeEc2 implements Ec2Fleet, RestartPort {
  constructor(
    private readonly fleet: InMemoryFleet,
    readonly region: string,
    readonly kind: ResourceKind = 'ec2',
  ) {}

  /** The resources of this fleet's kind in its region. */
  private get instances(): Map<string, FakeInstance> {
    const all = this.fleet.regions.get(this.region) ?? new Map<string, FakeInstance>();
    return new Map([...all].filter(([, e]) => (e.instance.kind ?? 'ec2') === this.kind));
  }

  private check(operation: FakeOperation, instanceId?: string): void {
    const err = this.fleet.fault(operation, this.region, instanceId, this.kind);
    if (err) throw err;
  }

  async listRunning(): Promise<Instance[]> {
    this.check('listRunning');
    const out: Instance[] = [];
    for (const entry of this.instances.values()) {
      if (entry.state !== 'running') continue;
      // A copy with a copy of the tags, like a fresh DescribeInstances answer.
      out.push({ ...entry.instance, tags: { ...entry.instance.tags } });
      if (entry.changesStateAfterDescribe) entry.state = entry.changesStateAfterDescribe;
    }
    return out;
  }

  async getRunning(instanceId: string): Promise<Instance | null> {
    this.check('listRunning', instanceId);
    const entry = this.instances.get(instanceId);
    return entry && entry.state === 'running'
      ? { ...entry.instance, tags: { ...entry.instance.tags } }
      : null;
  }

  async describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>> {
    this.check('describeTypes');
    const out = new Map<string, InstanceTypeInfo>();
    for (const t of types) {
      const info = this.fleet.types.get(t);
      if (info) out.set(t, info);
    }
    return out;
  }

  async isStopProtected(instanceId: string): Promise<boolean> {
    this.check('isStopProtected', instanceId);
    const entry = this.instances.get(instanceId);
    if (!entry)
      throw awsError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return entry.stopProtected;
  }

  async enabledRegions(): Promise<string[]> {
    this.check('enabledRegions');
    return [...this.fleet.regions.keys()].sort();
  }

  async tag(instanceIds: string[], tags: Record<string, string>): Promise<InstanceResult[]> {
    return this.perInstance('tag', instanceIds, (entry) => Object.assign(entry.instance.tags, tags), {
      tags,
    });
  }

  async untag(instanceIds: string[], keys: string[]): Promise<InstanceResult[]> {
    return this.perInstance(
      'untag',
      instanceIds,
      (entry) => {
        for (const k of keys) delete entry.instance.tags[k];
      },
      { keys },
    );
  }

  async stop(instanceIds: string[], hibernate = false): Promise<InstanceResult[]> {
    return this.perInstance(
      'stop',
      instanceIds,
      (entry) => {
        if (entry.state !== 'running') {
          throw awsError(
            'IncorrectInstanceState',
            `The instance is not in a state from which it can be stopped.`,
          );
        }
        if (entry.stopProtected) throw awsError('OperationNotPermitted', 'stop protection is enabled');
        entry.state = 'stopped';
      },
      { hibernate },
    );
  }

  async listStoppedFor(rule: Rule): Promise<Instance[]> {
    this.check('listStopped');
    const out: Instance[] = [];
    for (const entry of this.instances.values()) {
      const tags = entry.instance.tags;
      if (entry.state !== 'stopped' || tags[TAGS.stopRule] !== rule || tags[TAGS.stoppedBy] !== 'sweep')
        continue;
      out.push({ ...entry.instance, tags: { ...tags } });
    }
    return out;
  }

  async start(instanceIds: string[]): Promise<InstanceResult[]> {
    return this.perInstance(
      'start',
      instanceIds,
      (entry) => {
        if (entry.state !== 'stopped') {
          throw awsError(
            'IncorrectInstanceState',
            'The instance is not in a state from which it can be started.',
          );
        }
        entry.state = 'running';
      },
      {},
    );
  }

  private perInstance(
    operation: 'tag' | 'untag' | 'stop' | 'start',
    instanceIds: string[],
    apply: (entry: FakeInstance) => void,
    extra: Partial<RecordedCall>,
  ): InstanceResult[] {
    const results: InstanceResult[] = [];
    const done: string[] = [];
    for (const id of instanceIds) {
      const entry = this.instances.get(id);
      try {
        const err = this.fleet.fault(operation, this.region, id, this.kind);
        if (err) throw err;
        if (!entry) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
        apply(entry);
        results.push({ instanceId: id, ok: true, ...(operation === 'stop' ? { state: 'stopping' } : {}) });
        done.push(id);
      } catch (err) {
        results.push({
          instanceId: id,
          ok: false,
          error: `${(err as Error).name}: ${(err as Error).message}`,
        });
      }
    }
    if (instanceIds.length > 0) {
      this.fleet.calls.push({
        operation,
        region: this.region,
        attempted: [...instanceIds],
        instanceIds: done,
        ...extra,
        ...(this.kind !== 'ec2' ? { kind: this.kind } : {}),
      });
    }
    return results;
  }
}

class FakeMetrics implements MetricsPort {
  /** Instances per fake GetMetricData call (the real adapter fits 166 three-series instances into 500 queries). */
  static readonly BATCH = 100;

  constructor(
    private readonly fleet: InMemoryFleet,
    private readonly region: string,
  ) {}

  /** Batches of BATCH instances; the fault plan is asked once per batch (no instance id: a call fails as a whole). */
  async *stream(requests: MetricsRequest[]): AsyncGenerator<[string, InstanceMetrics][]> {
    for (let i = 0; i < requests.length; i += FakeMetrics.BATCH) {
      const batch = requests.slice(i, i + FakeMetrics.BATCH);
      const err = this.fleet.fault('metrics', this.region);
      if (err) throw err;
      // Like CloudWatch: only the series asked for; one without datapoints is empty, never "no answer".
      yield batch.map((r): [string, InstanceMetrics] => {
        const known = this.fleet.metrics.get(r.instanceId) ?? {};
        for (const q of r.queries) this.fleet.seriesRead.push(`${r.instanceId}/${q.series}`);
        return [r.instanceId, Object.fromEntries(r.queries.map((q) => [q.series, known[q.series] ?? []]))];
      });
    }
  }
}
