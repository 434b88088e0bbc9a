import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  type EC2Client,
  type Instance as Ec2Instance,
  ModifyInstanceAttributeCommand,
  paginateDescribeInstances,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describeError } from '../core/errors.js';
import type { Instance, InstanceTypeInfo } from '../core/instance.js';
import { TAGS } from '../core/names.js';
import type { FleetPort, ResourceResult, RestartPort } from '../core/ports.js';
import type { Rule } from '../core/rules.js';
import { cleanTags } from '../core/text.js';
import { chunk } from './clients.js';

/** IAM actions this adapter uses; the stack's role must grant exactly these (checked by a template test). */
export const EC2_SWEEP_PERMISSIONS = [
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeInstanceAttribute',
  'ec2:DescribeRegions',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:StopInstances',
] as const;

/**
 * The IAM action of quiet hours' morning start: allowed by the sweep role only with quietHours.morningStart, and only
 * on instances whose stop record says the sweep stopped them for quiet hours (resources/sweep-role.yml).
 */
export const EC2_MORNING_START_PERMISSIONS = ['ec2:StartInstances'] as const;

/** Outcome of a stop or tag request for one instance. */
export type InstanceResult = ResourceResult;

/** EC2 for the sweep: find running instances, look up their types, tag, and stop them. One region. */
export class Ec2Adapter implements FleetPort, RestartPort {
  constructor(
    private readonly client: EC2Client,
    readonly region: string,
    readonly account?: string,
  ) {}

  /** Every running instance in the region (DescribeInstances, pages of 1000, filtered to running). */
  async listRunning(): Promise<Instance[]> {
    const out: Instance[] = [];
    for await (const page of this.runningPages()) out.push(...page);
    return out;
  }

  /**
   * The running instances page by page (DescribeInstances, pages of 1000, filtered to running). The next page is
   * asked for as soon as this one has arrived, before it is parsed (its nextToken is read from the end of the raw
   * answer, and checked against the parsed one), so the wait for the next page overlaps with the parsing of this
   * one and with what the caller does with it. At most one page beyond the one the caller holds is asked for. The
   * instances are read from the raw answer (src/aws/ec2-pages.ts). A failing page ends the iteration with its error.
   */
  async *runningPages(): AsyncGenerator<Instance[]> {
    // Loaded on first use: only the sweep reads pages, and the XML parser stays out of module init (cold start).
    const { readRawPage } = await import('./ec2-pages.js');
    interface Page {
      output: Promise<DescribeInstancesCommandOutput>;
      /** Resolves when the request is handed to the HTTP client. */
      sent: Promise<void>;
      early?: { token: string; page: Page };
      /** The instances read from the raw answer (readRawPage); the SDK's output has them otherwise. */
      read?: Ec2Instance[];
    }
    let awaited: Page | undefined;
    const ask = (token: string | undefined): Page => {
      const command = new DescribeInstancesCommand({
        Filters: [{ Name: 'instance-state-name', Values: ['running'] }],
        MaxResults: 1000,
        ...(token ? { NextToken: token } : {}),
      });
      let onSent = () => {};
      const page: Page = {
        output: Promise.resolve({ $metadata: {} }),
        sent: new Promise<void>((resolve) => {
          onSent = resolve;
        }),
      };
      command.middlewareStack.add(
        readRawPage({
          sent: onSent,
          found: (next) => {
            // Only while the caller waits for this page: never two pages ahead of the one it holds.
            if (!next || awaited !== page || page.early) return undefined;
            page.early = { token: next, page: ask(next) };
            return page.early.page.sent;
          },
          read: (instances) => {
            page.read = instances;
          },
        }),
        { step: 'deserialize', priority: 'low', name: 'costWatchdogReadRawPage' },
      );
      page.output = this.client.send(command);
      return page;
    };
    const drop = (page: Page | undefined) => {
      page?.output.catch(() => undefined);
      if (page?.early) drop(page.early.page);
    };
    let current: Page | undefined = ask(undefined);
    try {
      while (current) {
        awaited = current;
        const output: DescribeInstancesCommandOutput = await current.output;
        awaited = undefined;
        const raws = current.read ?? (output.Reservations ?? []).flatMap((r) => r.Instances ?? []);
        let next: Page | undefined;
        if (current.early && current.early.token === output.NextToken) next = current.early.page;
        else {
          drop(current.early?.page);
          next = output.NextToken ? ask(output.NextToken) : undefined;
        }
        current = next;
        const out: Instance[] = [];
        for (const raw of raws) {
          const instance = this.toInstance(raw);
          if (instance) out.push(instance);
        }
        yield out;
      }
    } finally {
      // The caller stopped early (or a page failed): a page still on its way is not read.
      drop(current);
    }
  }

  /** One instance by id, or null when it does not exist or is not running (the launch guard). */
  async getRunning(instanceId: string): Promise<Instance | null> {
    const raw = await this.describeOne(instanceId);
    return raw ? this.toInstance(raw) : null;
  }

  /**
   * One instance by id in any state, with its state name (`running`, `stopping`, `stopped`, ...), or null when EC2
   * does not know it: what the keep / stop pages show. Only `running` instances are ever acted on.
   */
  async describeInstance(instanceId: string): Promise<{ instance: Instance; state: string } | null> {
    const raw = await this.describeOne(instanceId);
    const instance = raw ? this.toInstance(raw, true) : null;
    return raw && instance ? { instance, state: raw.State?.Name ?? 'unknown' } : null;
  }

  private async describeOne(instanceId: string): Promise<Ec2Instance | null> {
    const res = await this.client
      .send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))
      .catch((err: unknown) => {
        // EC2 answers an id it does not know (terminated long ago, or never existed) with an error, not [].
        if ((err as { name?: string })?.name === 'InvalidInstanceID.NotFound') return null;
        throw err;
      });
    return res?.Reservations?.[0]?.Instances?.[0] ?? null;
  }

  private toInstance(raw: Ec2Instance, anyState = false): Instance | null {
    if (!raw.InstanceId || !raw.InstanceType) return null;
    // Belt and braces: only running instances are ever acted on, whatever the filter returned.
    if (!anyState && raw.State?.Name !== undefined && raw.State.Name !== 'running') return null;
    // Tags are text anyone who can tag the instance wrote: cleaned here, once, for every alert, page and table.
    const tags = cleanTags(raw.Tags ?? []);
    const launch =
      raw.LaunchTime instanceof Date ? raw.LaunchTime.toISOString() : String(raw.LaunchTime ?? '');
    // Built field by field in a fixed order, not as a literal with spreads (V8's slow path, for every instance of
    // every page: docs/scale.md, CPU).
    const instance = { instanceId: raw.InstanceId, region: this.region } as Instance;
    if (this.account) instance.account = this.account;
    instance.instanceType = raw.InstanceType;
    instance.launchTime = launch;
    instance.tags = tags;
    if (raw.InstanceLifecycle) instance.lifecycle = raw.InstanceLifecycle;
    instance.rootDeviceType = raw.RootDeviceType ?? 'ebs';
    if (raw.HibernationOptions?.Configured !== undefined)
      instance.hibernationConfigured = raw.HibernationOptions.Configured;
    if (raw.PublicIpAddress) instance.publicIp = raw.PublicIpAddress;
    const groups: string[] = [];
    for (const g of raw.SecurityGroups ?? []) if (g.GroupId) groups.push(g.GroupId);
    instance.securityGroupIds = groups;
    if (raw.Operator?.Managed === true) instance.operator = raw.Operator.Principal ?? 'an AWS service';
    return instance;
  }

  /**
   * Stopped instances whose stop record says the sweep stopped them for `rule` (DescribeInstances filtered on the
   * state and the tags stop-rule and stopped-by): the only ones the morning start may start.
   */
  async listStoppedFor(rule: Rule): Promise<Instance[]> {
    const out: Instance[] = [];
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: 1000 },
      {
        Filters: [
          { Name: 'instance-state-name', Values: ['stopped'] },
          { Name: `tag:${TAGS.stopRule}`, Values: [rule] },
          { Name: `tag:${TAGS.stoppedBy}`, Values: ['sweep'] },
        ],
      },
    );
    for await (const page of pages) {
      for (const reservation of page.Reservations ?? []) {
        for (const raw of reservation.Instances ?? []) {
          if (raw.State?.Name !== 'stopped') continue;
          const instance = this.toInstance(raw, true);
          if (instance) out.push(instance);
        }
      }
    }
    return out;
  }

  /** Starts stopped instances, 100 per call; a failing batch is retried per instance. */
  async start(instanceIds: string[]): Promise<InstanceResult[]> {
    return this.perBatch(instanceIds, 100, (ids) =>
      this.client.send(new StartInstancesCommand({ InstanceIds: ids })),
    );
  }

  /** Type facts (free-tier eligibility for this account, GPU, hibernation) for each distinct type, 100 per call. */
  async describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>> {
    const distinct = [...new Set(types)];
    const out = new Map<string, InstanceTypeInfo>();
    for (const batch of chunk(distinct, 100)) {
      let token: string | undefined;
      do {
        const res = await this.client.send(
          new DescribeInstanceTypesCommand({
            InstanceTypes: batch as DescribeInstanceTypesCommand['input']['InstanceTypes'],
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const t of res.InstanceTypes ?? []) {
          if (!t.InstanceType) continue;
          out.set(t.InstanceType, {
            ...(t.FreeTierEligible !== undefined ? { freeTierEligible: t.FreeTierEligible } : {}),
            gpu: (t.GpuInfo?.Gpus?.length ?? 0) > 0,
            ...(t.VCpuInfo?.DefaultVCpus !== undefined ? { vcpus: t.VCpuInfo.DefaultVCpus } : {}),
            ...(t.MemoryInfo?.SizeInMiB !== undefined ? { memoryMiB: t.MemoryInfo.SizeInMiB } : {}),
            ...(t.HibernationSupported !== undefined ? { hibernationSupported: t.HibernationSupported } : {}),
          });
        }
        token = res.NextToken;
      } while (token);
    }
    return out;
  }

  /** The free-tier eligible instance types of this account in this region, smallest memory first. */
  async freeTierTypes(): Promise<string[]> {
    const found: { type: string; mem: number }[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new DescribeInstanceTypesCommand({
          Filters: [{ Name: 'free-tier-eligible', Values: ['true'] }],
          ...(token ? { NextToken: token } : {}),
        }),
      );
      for (const t of res.InstanceTypes ?? []) {
        if (t.InstanceType) found.push({ type: t.InstanceType, mem: t.MemoryInfo?.SizeInMiB ?? 0 });
      }
      token = res.NextToken;
    } while (token);
    return found.sort((a, b) => a.mem - b.mem || a.type.localeCompare(b.type)).map((f) => f.type);
  }

  /** Whether stop protection (DisableApiStop) is on; one call per instance, so only used before a stop. */
  async isStopProtected(instanceId: string): Promise<boolean> {
    const res = await this.client.send(
      new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'disableApiStop' }),
    );
    return res.DisableApiStop?.Value === true;
  }

  /**
   * Turns stop protection off (ModifyInstanceAttribute DisableApiStop=false). Only the launch guard calls it, for
   * an instance of a provisioned user with policy stopProtection `clear`; its role allows nothing else.
   */
  async clearStopProtection(instanceId: string): Promise<void> {
    await this.client.send(
      new ModifyInstanceAttributeCommand({ InstanceId: instanceId, DisableApiStop: { Value: false } }),
    );
  }

  /** Enabled regions of the account (DescribeRegions without opt-in-required ones not opted in). */
  async enabledRegions(): Promise<string[]> {
    const res = await this.client.send(new DescribeRegionsCommand({ AllRegions: false }));
    return (res.Regions ?? [])
      .filter((r) => r.OptInStatus === undefined || r.OptInStatus !== 'not-opted-in')
      .map((r) => r.RegionName ?? '')
      .filter((r) => r !== '')
      .sort();
  }

  /** Sets the same tags on many instances; a failing batch is retried per instance so one bad id is isolated. */
  async tag(instanceIds: string[], tags: Record<string, string>): Promise<InstanceResult[]> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    return this.perBatch(instanceIds, 500, (ids) =>
      this.client.send(new CreateTagsCommand({ Resources: ids, Tags })),
    );
  }

  /** Removes tag keys from many instances. */
  async untag(instanceIds: string[], keys: string[]): Promise<InstanceResult[]> {
    const Tags = keys.map((Key) => ({ Key }));
    return this.perBatch(instanceIds, 500, (ids) =>
      this.client.send(new DeleteTagsCommand({ Resources: ids, Tags })),
    );
  }

  /**
   * Stops instances in batches of 100 (with hibernation when asked). Never terminates. When a batch fails,
   * each instance is retried alone, so one instance that changed state does not keep the others running.
   */
  async stop(instanceIds: string[], hibernate = false): Promise<InstanceResult[]> {
    const states = new Map<string, { state?: string; previousState?: string }>();
    const attempted = new Set<string>();
    const results = await this.perBatch(instanceIds, 100, async (ids) => {
      // On a retry after a failed batch, "previously stopped" may be our own batch's doing: not reported then.
      const retry = ids.some((id) => attempted.has(id));
      for (const id of ids) attempted.add(id);
      const res = await this.client.send(
        new StopInstancesCommand({ InstanceIds: ids, ...(hibernate ? { Hibernate: true } : {}) }),
      );
      for (const s of res.StoppingInstances ?? []) {
        if (!s.InstanceId) continue;
        states.set(s.InstanceId, {
          ...stateOf(s.CurrentState?.Name),
          ...(s.PreviousState?.Name && !retry ? { previousState: s.PreviousState.Name } : {}),
        });
      }
    });
    return results.map((r) => (r.ok ? { ...r, ...states.get(r.instanceId) } : r));
  }

  private async perBatch(
    instanceIds: string[],
    size: number,
    call: (ids: string[]) => Promise<unknown>,
  ): Promise<InstanceResult[]> {
    const results: InstanceResult[] = [];
    for (const ids of chunk(instanceIds, size)) {
      try {
        await call(ids);
        for (const id of ids) results.push({ instanceId: id, ok: true });
      } catch (batchError) {
        if (ids.length === 1) {
          results.push({ instanceId: ids[0] as string, ok: false, error: describeError(batchError) });
          continue;
        }
        for (const id of ids) {
          try {
            await call([id]);
            results.push({ instanceId: id, ok: true });
          } catch (err) {
            results.push({ instanceId: id, ok: false, error: describeError(err) });
          }
        }
      }
    }
    return results;
  }
}

function stateOf(name: string | undefined): { state?: string } {
  return name ? { state: name } : {};
}
