import { describeError, ResourceNotFoundError } from '../core/errors.js';
import type { Instance, InstanceTypeInfo, ResourceKind } from '../core/instance.js';
import type { FleetPort, ResourceResult } from '../core/ports.js';
import { perResource } from './clients.js';

/** Calls one adapter keeps in flight at once (SageMaker's and RDS's Describe / tag APIs allow a few per second). */
const CALLS_IN_PARALLEL = 4;

/** A resource as its service describes it, with the service's own word for its state (InService, available, ...). */
export interface Described {
  instance: Instance;
  state: string;
}

/**
 * What the adapters of services without batch APIs share (SageMaker notebooks, RDS instances and clusters): tags
 * by ARN, one call per resource; a stop per resource that reports one someone else stopped meanwhile as such; no
 * stop protection; the keep / stop pages' view of one resource in EC2's words. A subclass says how its service
 * describes, tags and stops one resource.
 */
export abstract class ArnTaggedFleet implements FleetPort {
  abstract readonly kind: ResourceKind;
  /** What errors call one resource ("notebook instance", "DB cluster"). */
  protected abstract readonly noun: string;
  /** The service's word for a running resource (InService, available). */
  protected abstract readonly runningState: string;
  /** ARN per id, learnt when a resource is described. */
  protected readonly arns = new Map<string, string>();

  constructor(
    readonly region: string,
    readonly account?: string,
  ) {}

  abstract listRunning(): Promise<Instance[]>;

  /** Type facts of the kind's classes (free tier comes from the policy: kindTypeInfo()). */
  abstract describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>>;

  /** One resource by id in any state, with its service's state, or null when the service does not know it. */
  protected abstract describeRaw(id: string): Promise<Described | null>;

  /** Sets tags on one resource by ARN. */
  protected abstract tagArn(arn: string, tags: { Key: string; Value: string }[]): Promise<void>;

  /** Removes tag keys from one resource by ARN. */
  protected abstract untagArn(arn: string, keys: string[]): Promise<void>;

  /** Stops one resource; its state after the call when the answer says (else undefined). Never deletes. */
  protected abstract stopOne(id: string): Promise<string | undefined>;

  /** Whether a failed stop may mean "already stopping or stopped" (then the resource is described again). */
  protected abstract mayBeStoppedAlready(err: unknown): boolean;

  /**
   * One resource by id in any state, or null when its service does not know it: what the keep / stop pages show.
   * Its state as EC2 words it (running; stopping, stopped, pending, ... in lower case).
   */
  async describeInstance(instanceId: string): Promise<Described | null> {
    const found = await this.describeRaw(instanceId);
    if (!found) return null;
    return { ...found, state: found.state === this.runningState ? 'running' : found.state.toLowerCase() };
  }

  /** One resource by id, or null when it does not exist, is not running, or its start is unknown. */
  async getRunning(instanceId: string): Promise<Instance | null> {
    const found = await this.describeRaw(instanceId);
    return found && found.state === this.runningState && found.instance.launchTime !== ''
      ? found.instance
      : null;
  }

  /** These services have no stop protection (RDS's DeletionProtection guards deletes, which are never made). */
  async isStopProtected(): Promise<boolean> {
    return false;
  }

  /** Sets tags on each resource, one call each: one failure never fails the others. */
  async tag(instanceIds: string[], tags: Record<string, string>): Promise<ResourceResult[]> {
    const pairs = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    return perResource(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        await this.tagArn(await this.arnOf(id), pairs);
        return undefined;
      },
      describeError,
    );
  }

  /** Removes tag keys from each resource, one call each. */
  async untag(instanceIds: string[], keys: string[]): Promise<ResourceResult[]> {
    return perResource(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        await this.untagArn(await this.arnOf(id), keys);
        return undefined;
      },
      describeError,
    );
  }

  /**
   * Stops each resource (nothing is created or deleted). One that someone else stopped in the meantime is
   * reported with its previous state `stopped`, so it is never claimed as the watchdog's stop.
   */
  async stop(instanceIds: string[]): Promise<ResourceResult[]> {
    return perResource<{ state?: string; previousState?: string }>(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        try {
          const state = await this.stopOne(id);
          return state ? { state } : {};
        } catch (err) {
          if (this.mayBeStoppedAlready(err)) {
            const now = await this.describeInstance(id).catch(() => null);
            if (now && (now.state === 'stopping' || now.state === 'stopped'))
              return { state: now.state, previousState: 'stopped' };
          }
          throw err;
        }
      },
      describeError,
    );
  }

  private async arnOf(id: string): Promise<string> {
    const known = this.arns.get(id);
    if (known) return known;
    const found = await this.describeRaw(id);
    if (!found?.instance.arn) throw new ResourceNotFoundError(this.noun, id, this.region);
    return found.instance.arn;
  }
}
