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
import type { Instance, InstanceTypeInfo } from '../core/instance.js';
import { runningSince } from '../core/kinds.js';
import { TAGS } from '../core/names.js';
import { cleanTags } from '../core/text.js';
import { ArnTaggedFleet, type Described } from './arn-tagged-fleet.js';
import { mapBounded } from './clients.js';

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
export class SageMakerNotebooks extends ArnTaggedFleet {
  readonly kind = 'sagemaker-notebook' as const;
  protected readonly noun = 'notebook instance';
  protected readonly runningState = 'InService';

  constructor(
    private readonly client: SageMakerClient,
    region: string,
    account?: string,
  ) {
    super(region, account);
  }

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
    const found = await mapBounded(names, CALLS_IN_PARALLEL, (name) => this.describeRaw(name));
    return found.filter((f): f is Described => f !== null && f.state === 'InService').map((f) => f.instance);
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
    const found = await mapBounded(names, CALLS_IN_PARALLEL, (name) => this.describeRaw(name));
    return found.filter((f): f is Described => f !== null && f.state === 'Stopped').map((f) => f.instance);
  }

  /** One notebook by name (DescribeNotebookInstance, then its tags), or null when SageMaker does not know it. */
  protected async describeRaw(name: string): Promise<Described | null> {
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

  protected async tagArn(arn: string, tags: { Key: string; Value: string }[]): Promise<void> {
    await this.client.send(new AddTagsCommand({ ResourceArn: arn, Tags: tags }));
  }

  protected async untagArn(arn: string, keys: string[]): Promise<void> {
    await this.client.send(new DeleteTagsCommand({ ResourceArn: arn, TagKeys: keys }));
  }

  /** StopNotebookInstance: the instance stops, its ML storage volume stays; never deleted. */
  protected async stopOne(id: string): Promise<string | undefined> {
    await this.client.send(new StopNotebookInstanceCommand({ NotebookInstanceName: id }));
    return 'stopping';
  }

  /** SageMaker refuses to stop a notebook that is not InService with a ValidationException: look again. */
  protected mayBeStoppedAlready(): boolean {
    return true;
  }
}
