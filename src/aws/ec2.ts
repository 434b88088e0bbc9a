import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
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
import type { Readable } from 'node:stream';
import type { DeserializeMiddleware, HttpResponse } from '@smithy/types';
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
   * asked for as soon as this one has arrived, before the SDK has parsed it (its nextToken is read from the end of
   * the raw answer, and checked against the parsed one), so the wait for the next page overlaps with the parsing
   * of this one and with what the caller does with it. At most one page beyond the one the caller holds is asked
   * for. A failing page ends the iteration with its error.
   */
  async *runningPages(): AsyncGenerator<Instance[]> {
    interface Page {
      output: Promise<DescribeInstancesCommandOutput>;
      /** Resolves when the request is handed to the HTTP client. */
      sent: Promise<void>;
      early?: { token: string; page: Page };
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
        readRawPage(onSent, (next) => {
          // Only while the caller waits for this page: never two pages ahead of the one it holds.
          if (!next || awaited !== page || page.early) return undefined;
          page.early = { token: next, page: ask(next) };
          return page.early.page.sent;
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
        let next: Page | undefined;
        if (current.early && current.early.token === output.NextToken) next = current.early.page;
        else {
          drop(current.early?.page);
          next = output.NextToken ? ask(output.NextToken) : undefined;
        }
        current = next;
        const out: Instance[] = [];
        for (const reservation of output.Reservations ?? []) {
          for (const raw of reservation.Instances ?? []) {
            const instance = this.toInstance(raw);
            if (instance) out.push(instance);
          }
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

/**
 * Parts of a DescribeInstances answer that toInstance() never reads: nested structures and plain fields that make
 * up more than three quarters of each instance's XML, and of the SDK's work to turn it into objects. readRawPage()
 * leaves them out of the pages of runningPages() before the SDK parses them (test/unit/ec2-pages.test.ts checks
 * that the instances come out the same with and without them).
 */
export const UNREAD_INSTANCE_PARTS = [
  'networkInterfaceSet',
  'blockDeviceMapping',
  'placement',
  'monitoring',
  'cpuOptions',
  'metadataOptions',
  'productCodes',
  'privateDnsNameOptions',
  'maintenanceOptions',
  'capacityReservationSpecification',
  'enclaveOptions',
  'networkPerformanceOptions',
  'elasticGpuAssociationSet',
  'elasticInferenceAcceleratorAssociationSet',
  'licenseSet',
  'iamInstanceProfile',
  'stateReason',
  'imageId',
  'privateDnsName',
  'dnsName',
  'reason',
  'keyName',
  'amiLaunchIndex',
  'subnetId',
  'vpcId',
  'privateIpAddress',
  'sourceDestCheck',
  'architecture',
  'rootDeviceName',
  'virtualizationType',
  'clientToken',
  'hypervisor',
  'ebsOptimized',
  'enaSupport',
  'platformDetails',
  'bootMode',
  // Inside parts that are read: the state's code (its name is read) and the security groups' names (their ids are).
  'code',
  'groupName',
  // The reservation around the instances.
  'reservationId',
  'ownerId',
  'requesterId',
] as const;

/**
 * `<part>...</part>` and `<part/>` of the parts above. None of them holds an element of its own name, and EC2 escapes
 * `<` in text, so the first closing tag of the name ends the part.
 */
const UNREAD = new RegExp(
  `<(${UNREAD_INSTANCE_PARTS.join('|')})>[\\s\\S]*?</\\1>|<(?:${UNREAD_INSTANCE_PARTS.join('|')})/>`,
  'g',
);

/**
 * The line breaks and indentation that follow a tag and come before the next one. EC2 lays its answers out four
 * spaces a level, and the SDK's parser would read all of it character by character. The white space must follow a
 * whole tag (`<` and `>` with neither between them): text may hold `>` and line breaks (a tag value "a>\n" keeps
 * them), never a bare `<`.
 */
const LAYOUT = /(<[^<>]*>)\s*\n\s*(?=<)/g;

/** A DescribeInstances answer without the parts toInstance() never reads, and without its layout. */
export function withoutUnreadParts(xml: string): string {
  return xml.replace(UNREAD, '').replace(LAYOUT, '$1');
}

/**
 * A deserialize-step middleware (the innermost: it sees the raw answer first) for the pages of runningPages(). It
 * reads the body, leaves out the parts toInstance() never reads (withoutUnreadParts), and reads the nextToken from
 * the end of the raw XML, where EC2 puts it, before the SDK parses the answer. `found` gets the token once, or
 * undefined when the answer has none or it cannot be read that way (the caller then uses the parsed one); when it
 * starts the next request it returns a promise of that request being sent, and the parsing (a hundred ms of CPU
 * for 1,000 instances, which would hold the request back) waits for it. `sent` is called when this middleware's
 * own request goes to the HTTP client.
 */
function readRawPage(
  sent: () => void,
  found: (token: string | undefined) => Promise<void> | undefined,
): DeserializeMiddleware<DescribeInstancesCommandInput, DescribeInstancesCommandOutput> {
  let done = false;
  return (next) => async (args) => {
    sent();
    const result = await next(args);
    const response = result.response as HttpResponse | undefined;
    if (done || response?.statusCode !== 200) return result;
    const bytes = await bodyBytes(response.body);
    if (!bytes) return result;
    done = true;
    const xml = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    response.body = Buffer.from(withoutUnreadParts(xml));
    const tail = xml.slice(-4096);
    const nextSent = found(
      /<nextToken>([^<&]+)<\/nextToken>\s*<\/DescribeInstancesResponse>\s*$/.exec(tail)?.[1],
    );
    // Let the next request reach its socket (a timer turn) before the parsing takes the CPU; at most 50 ms.
    if (nextSent)
      await Promise.race([
        nextSent.then(() => new Promise((resolve) => setTimeout(resolve, 1))),
        new Promise((resolve) => setTimeout(resolve, 50)),
      ]);
    return result;
  };
}

/** The bytes of a response body that is already bytes or a Node stream; undefined for anything else. */
async function bodyBytes(body: unknown): Promise<Uint8Array | undefined> {
  if (body instanceof Uint8Array) return body;
  if (body && typeof (body as Readable).pipe === 'function' && Symbol.asyncIterator in (body as object)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as Readable)
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  return undefined;
}
