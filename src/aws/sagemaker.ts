import {
  AddTagsCommand,
  DeleteTagsCommand,
  DescribeNotebookInstanceCommand,
  type DescribeNotebookInstanceCommandOutput,
  paginateListNotebookInstances,
  paginateListTags,
  type SageMakerClient,
  StopNotebookInstanceCommand,
} from '@aws-sdk/client-sagemaker';
import { describeError, ResourceNotFoundError } from '../core/errors.js';
import type { Instance, InstanceTypeInfo } from '../core/instance.js';
import { runningSince } from '../core/kinds.js';
import { TAGS } from '../core/policy.js';
import type { FleetPort, ResourceResult } from '../core/ports.js';
import { cleanTags } from '../core/text.js';
import { mapBounded, perResource } from './clients.js';

/** IAM actions this adapter uses; the sweep's role grants exactly these (checked by a template test). */
export const SAGEMAKER_SWEEP_PERMISSIONS = [
  'sagemaker:ListNotebookInstances',
  'sagemaker:DescribeNotebookInstance',
  'sagemaker:ListTags',
  'sagemaker:AddTags',
  'sagemaker:DeleteTags',
  'sagemaker:StopNotebookInstance',
] as const;

/** What reading stopped notebooks needs (the digest: what their volumes still cost). */
export const SAGEMAKER_READ_PERMISSIONS = [
  'sagemaker:ListNotebookInstances',
  'sagemaker:DescribeNotebookInstance',
  'sagemaker:ListTags',
] as const;

/** SageMaker calls kept in flight at once (its Describe / List APIs allow a few per second per account). */
const CALLS_IN_PARALLEL = 4;

/** A notebook that SageMaker no longer knows answers DescribeNotebookInstance with this error. */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e?.name === 'ValidationException' && /RecordNotFound|does not exist/i.test(e.message ?? '');
}

/**
 * SageMaker notebook instances for the sweep, one region: lists the InService ones (their volume and tags),
 * tags them by ARN, and stops them (StopNotebookInstance keeps the ML storage volume; nothing is deleted).
 */
export class SageMakerNotebooks implements FleetPort {
  readonly kind = 'sagemaker-notebook' as const;
  private readonly arns = new Map<string, string>();

  constructor(
    private readonly client: SageMakerClient,
    readonly region: string,
    readonly account?: string,
  ) {}

  /** Every InService notebook instance (ListNotebookInstances, then its details and tags, a few at a time). */
  async listRunning(): Promise<Instance[]> {
    const names: string[] = [];
    for await (const page of paginateListNotebookInstances(
      { client: this.client, pageSize: 100 },
      { StatusEquals: 'InService' },
    )) {
      for (const n of page.NotebookInstances ?? []) {
        if (n.NotebookInstanceName && n.NotebookInstanceStatus === 'InService')
          names.push(n.NotebookInstanceName);
      }
    }
    const found = await mapBounded(names, CALLS_IN_PARALLEL, (name) => this.describeNotebook(name));
    return found
      .filter((f): f is { instance: Instance; state: string } => f !== null && f.state === 'InService')
      .map((f) => f.instance);
  }

  /** Every Stopped notebook instance with its volume size and tags (what it still costs: its ML storage). */
  async listStopped(): Promise<Instance[]> {
    const names: string[] = [];
    for await (const page of paginateListNotebookInstances(
      { client: this.client, pageSize: 100 },
      { StatusEquals: 'Stopped' },
    )) {
      for (const n of page.NotebookInstances ?? [])
        if (n.NotebookInstanceName) names.push(n.NotebookInstanceName);
    }
    const found = await mapBounded(names, CALLS_IN_PARALLEL, (name) => this.describeNotebook(name));
    return found
      .filter((f): f is { instance: Instance; state: string } => f !== null && f.state === 'Stopped')
      .map((f) => f.instance);
  }

  /** One notebook by name, or null when it does not exist or is not InService. */
  async getRunning(instanceId: string): Promise<Instance | null> {
    const found = await this.describeNotebook(instanceId);
    return found && found.state === 'InService' ? found.instance : null;
  }

  /**
   * One notebook by name in any state, or null when SageMaker does not know it: what the keep / stop pages show.
   * Its state as EC2 words it (InService = `running`; `stopping`, `stopped`, `pending`, ... in lower case).
   */
  async describeInstance(instanceId: string): Promise<{ instance: Instance; state: string } | null> {
    const found = await this.describeNotebook(instanceId);
    if (!found) return null;
    return {
      instance: found.instance,
      state: found.state === 'InService' ? 'running' : found.state.toLowerCase(),
    };
  }

  private async describeNotebook(name: string): Promise<{ instance: Instance; state: string } | null> {
    let raw: DescribeNotebookInstanceCommandOutput;
    try {
      raw = await this.client.send(new DescribeNotebookInstanceCommand({ NotebookInstanceName: name }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if (!raw.NotebookInstanceName || !raw.NotebookInstanceArn || !raw.InstanceType) return null;
    this.arns.set(raw.NotebookInstanceName, raw.NotebookInstanceArn);
    const rawTags: { Key?: string | undefined; Value?: string | undefined }[] = [];
    for await (const page of paginateListTags(
      { client: this.client, pageSize: 100 },
      { ResourceArn: raw.NotebookInstanceArn },
    )) {
      rawTags.push(...(page.Tags ?? []));
    }
    // Tags are text anyone who can tag the notebook wrote: cleaned here, once, for every alert, page and table.
    const tags = cleanTags(rawTags);
    return {
      state: raw.NotebookInstanceStatus ?? 'unknown',
      instance: {
        kind: 'sagemaker-notebook',
        instanceId: raw.NotebookInstanceName,
        region: this.region,
        ...(this.account ? { account: this.account } : {}),
        instanceType: raw.InstanceType,
        // LastModifiedTime changes when the notebook goes InService: its last start.
        launchTime: runningSince([raw.LastModifiedTime, raw.CreationTime], tags[TAGS.stoppedAt]),
        tags,
        rootDeviceType: 'ebs',
        arn: raw.NotebookInstanceArn,
        ...(raw.VolumeSizeInGB !== undefined ? { storageGb: raw.VolumeSizeInGB } : {}),
      },
    };
  }

  /** Type facts: only whether it is a GPU type (free tier comes from the policy: kindTypeInfo()). */
  async describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>> {
    return new Map([...new Set(types)].map((t) => [t, { gpu: /^ml\.(p|g)\d/.test(t) }]));
  }

  /** SageMaker has no stop protection. */
  async isStopProtected(): Promise<boolean> {
    return false;
  }

  /** Sets tags on each notebook (AddTags by ARN, one call each). */
  async tag(instanceIds: string[], tags: Record<string, string>): Promise<ResourceResult[]> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    return perResource(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        await this.client.send(new AddTagsCommand({ ResourceArn: await this.arnOf(id), Tags }));
        return undefined;
      },
      describeError,
    );
  }

  /** Removes tag keys from each notebook (DeleteTags by ARN). */
  async untag(instanceIds: string[], keys: string[]): Promise<ResourceResult[]> {
    return perResource(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        await this.client.send(new DeleteTagsCommand({ ResourceArn: await this.arnOf(id), TagKeys: keys }));
        return undefined;
      },
      describeError,
    );
  }

  /**
   * Stops each notebook (StopNotebookInstance: the instance stops, its ML storage volume stays; never deleted).
   * A notebook someone else stopped in the meantime is reported with its previous state `stopped`.
   */
  async stop(instanceIds: string[]): Promise<ResourceResult[]> {
    return perResource<{ state?: string; previousState?: string }>(
      instanceIds,
      CALLS_IN_PARALLEL,
      async (id) => {
        try {
          await this.client.send(new StopNotebookInstanceCommand({ NotebookInstanceName: id }));
          return { state: 'stopping' };
        } catch (err) {
          const now = await this.describeNotebook(id).catch(() => null);
          if (now && (now.state === 'Stopping' || now.state === 'Stopped')) {
            return { state: now.state.toLowerCase(), previousState: 'stopped' };
          }
          throw err;
        }
      },
      describeError,
    );
  }

  private async arnOf(name: string): Promise<string> {
    const known = this.arns.get(name);
    if (known) return known;
    const found = await this.describeNotebook(name);
    if (!found?.instance.arn) throw new ResourceNotFoundError('notebook instance', name, this.region);
    return found.instance.arn;
  }
}
