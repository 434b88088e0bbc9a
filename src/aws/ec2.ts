import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
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
import { TAGS } from '../core/policy.js';
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
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: 1000 },
      { Filters: [{ Name: 'instance-state-name', Values: ['running'] }] },
    );
    for await (const page of pages) {
      for (const reservation of page.Reservations ?? []) {
        for (const raw of reservation.Instances ?? []) {
          const instance = this.toInstance(raw);
          if (instance) out.push(instance);
        }
      }
    }
    return out;
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
    return {
      instanceId: raw.InstanceId,
      region: this.region,
      ...(this.account ? { account: this.account } : {}),
      instanceType: raw.InstanceType,
      launchTime: launch,
      tags,
      ...(raw.InstanceLifecycle ? { lifecycle: raw.InstanceLifecycle } : {}),
      rootDeviceType: raw.RootDeviceType ?? 'ebs',
      ...(raw.HibernationOptions?.Configured !== undefined
        ? { hibernationConfigured: raw.HibernationOptions.Configured }
        : {}),
      ...(raw.PublicIpAddress ? { publicIp: raw.PublicIpAddress } : {}),
      securityGroupIds: (raw.SecurityGroups ?? []).map((g) => g.GroupId ?? '').filter((g) => g !== ''),
      ...(raw.Operator?.Managed === true ? { operator: raw.Operator.Principal ?? 'an AWS service' } : {}),
    };
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
