import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { InitializeMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';
import type { AwsTarget } from '../../src/aws/clients.js';
import { clientConfig } from '../../src/aws/clients.js';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { type SweepServices, sdkSweepServices } from '../../src/aws/services.js';
import { main } from '../../src/cli/main.js';
import type { LogRecord } from '../../src/core/log.js';
import { createSweepHandler, type SweepSummary } from '../../src/handlers/sweep.js';
import { amazonLinuxAmi, endpoint, type MetricValues, putMetrics, target } from './support.js';

const HOUR_MS = 3_600_000;
const STEP_MS = 5 * 60_000;

/** Quiet under the default policy: 0.5% CPU, 2 kB of network per 5 minutes. */
export const IDLE: MetricValues = { cpu: 0.5, networkIn: 1_000, networkOut: 1_000 };
/** In use: 60% CPU, 20 MB of network per 5 minutes. */
export const BUSY: MetricValues = { cpu: 60, networkIn: 10_000_000, networkOut: 10_000_000 };

/**
 * The latest LaunchTime of `ids`. moto always launches "now" (whole seconds) and LaunchTime cannot be set, so
 * scenarios move the sweep's clock forward from here instead of launching in the past.
 */
export async function launchTimeOf(region: string, ids: string[]): Promise<Date> {
  const ec2 = new EC2Client(clientConfig(target(region)));
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  const times = (res.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.LaunchTime);
  if (times.length !== ids.length || times.some((t) => !(t instanceof Date))) {
    throw new Error(`no LaunchTime for some of ${ids.join(', ')}`);
  }
  return new Date(Math.max(...times.map((t) => (t as Date).getTime())));
}

/** `hours` after `from`, rounded up to a whole 5 minutes (where CloudWatch's 5-minute points fall). */
export function hoursAfter(from: Date, hours: number): Date {
  return new Date(Math.ceil((from.getTime() + hours * HOUR_MS) / STEP_MS) * STEP_MS);
}

/** `minutes` after `at`. */
export function minutesAfter(at: Date, minutes: number): Date {
  return new Date(at.getTime() + minutes * 60_000);
}

/**
 * Writes 5-minute points for `instanceId` from its launch (rounded down to 5 minutes) up to `until`, which
 * is where a sweep at `until` stops reading (GetMetricData's EndTime is exclusive).
 */
export function metricsSinceLaunch(
  region: string,
  instanceId: string,
  values: MetricValues,
  launch: Date,
  until: Date,
): Promise<number> {
  const from = new Date(Math.floor(launch.getTime() / STEP_MS) * STEP_MS);
  return putMetrics(region, instanceId, values, from, until);
}

/** Writes a watchdog.yml with `yaml` into a fresh temporary folder; returns its path. */
export { policyFile } from '../support/policy-file.js';

/** A running sweep handler: `at(time)` runs it as the scheduled event would at that time. */
export interface SweepRunner {
  at(now: Date): Promise<SweepSummary>;
  logs: LogRecord[];
}

/**
 * The real sweep Lambda handler, configured the way serverless.yml configures it (region, topic, policy file)
 * plus AWS_ENDPOINT_URL for the emulator. Its SDK clients are its own unless `services` is given.
 */
export function sweepHandler(options: {
  region: string;
  topicArn: string;
  policy: string;
  services?: SweepServices;
}): SweepRunner {
  let now = new Date(0);
  const logs: LogRecord[] = [];
  const handler = createSweepHandler({
    clock: () => now,
    env: {
      AWS_REGION: options.region,
      TOPIC_ARN: options.topicArn,
      POLICY_FILE: options.policy,
      AWS_ENDPOINT_URL: endpoint(),
    },
    log: (r) => logs.push(r),
    ...(options.services ? { services: options.services } : {}),
  });
  return {
    logs,
    at(at: Date) {
      now = at;
      return handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    },
  };
}

/** Runs the CLI in-process (`main()`), capturing its output. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { AWS_REGION: 'us-east-1' },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** An instance as DescribeInstances reports it now: its state and its tags. */
export async function instanceState(
  region: string,
  instanceId: string,
): Promise<{ state: string | undefined; tags: Record<string, string> }> {
  const ec2 = new EC2Client(clientConfig(target(region)));
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const raw = res.Reservations?.[0]?.Instances?.[0];
  return {
    state: raw?.State?.Name,
    tags: Object.fromEntries((raw?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  };
}

/**
 * Starts one instance through a real Auto Scaling group (moto's AutoScaling API, Query protocol; the project
 * has no Auto Scaling SDK client) so that it carries the `aws:autoscaling:groupName` tag AWS itself sets.
 * Returns its id.
 */
export async function autoScalingMember(region: string, group: string): Promise<string> {
  const before = await runningIds(region);
  const call = async (params: Record<string, string>) => {
    const res = await fetch(`${endpoint()}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        // moto routes by the service in the credential scope; it does not check the signature
        authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${region}/autoscaling/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: new URLSearchParams({ Version: '2011-01-01', ...params }),
    });
    if (!res.ok)
      throw new Error(`autoscaling ${params.Action} failed: HTTP ${res.status} ${await res.text()}`);
  };
  await call({
    Action: 'CreateLaunchConfiguration',
    LaunchConfigurationName: `${group}-lc`,
    ImageId: await amazonLinuxAmi(region),
    InstanceType: 't3.micro',
  });
  await call({
    Action: 'CreateAutoScalingGroup',
    AutoScalingGroupName: group,
    LaunchConfigurationName: `${group}-lc`,
    MinSize: '1',
    MaxSize: '1',
    DesiredCapacity: '1',
    'AvailabilityZones.member.1': `${region}a`,
  });
  const added = (await runningIds(region)).filter((id) => !before.includes(id));
  if (added.length !== 1) throw new Error(`expected one Auto Scaling instance, found ${added.length}`);
  return added[0] as string;
}

async function runningIds(region: string): Promise<string[]> {
  return (await new Ec2Adapter(new EC2Client(clientConfig(target(region))), region).listRunning()).map(
    (i) => i.instanceId,
  );
}

/** What an SDK request is about: its region, command and input. */
export interface SentRequest {
  region: string;
  command: string;
  input: Record<string, unknown>;
}

/**
 * Sweep services over real SDK clients pointed at the emulator that record every command they send (one entry
 * per send(); SDK retries of it are not counted again) and run `before` ahead of each, which may change the
 * emulator's state in between, as another actor would.
 */
export function recordingServices(before?: (request: SentRequest) => Promise<void>): {
  services: SweepServices;
  sent: SentRequest[];
} {
  const sent: SentRequest[] = [];
  const base = sdkSweepServices();
  const recorder =
    (region: string): InitializeMiddleware<object, MetadataBearer> =>
    (next, context) =>
    async (args) => {
      const request = {
        region,
        command: context.commandName ?? '?',
        input: args.input as Record<string, unknown>,
      };
      sent.push(request);
      await before?.(request);
      return next(args);
    };
  const record = <C extends EC2Client | CloudWatchClient>(client: C, region: string): C => {
    (client.middlewareStack as MiddlewareStack<object, MetadataBearer>).add(recorder(region), {
      step: 'initialize',
      name: 'recordRequests',
    });
    return client;
  };
  const ec2 = new Map<string, Ec2Adapter>();
  const metrics = new Map<string, MetricsAdapter>();
  const services: SweepServices = {
    ...base,
    ec2(t: AwsTarget) {
      let a = ec2.get(t.region);
      if (!a) {
        a = new Ec2Adapter(record(new EC2Client(clientConfig(t)), t.region), t.region);
        ec2.set(t.region, a);
      }
      return a;
    },
    metrics(t: AwsTarget) {
      let a = metrics.get(t.region);
      if (!a) {
        a = new MetricsAdapter(record(new CloudWatchClient(clientConfig(t)), t.region));
        metrics.set(t.region, a);
      }
      return a;
    },
  };
  return { services, sent };
}
