/**
 * The sweep handler against moto with faults injected into the SDK's middleware stack, inside its retry loop:
 * throttling that the SDK's retries absorb, a region whose every call is throttled, and CloudWatch answering
 * 503. The run finishes, stops only what it can justify, says what it skipped, and fails so the alarm fires.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { FinalizeRequestMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsTarget, clientConfig } from '../../src/aws/clients.js';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import type { SweepServices } from '../../src/aws/services.js';
import { TAGS } from '../../src/core/policy.js';
import { SweepIncompleteError } from '../../src/handlers/sweep.js';
import {
  hoursAfter,
  IDLE,
  instanceState,
  launchTimeOf,
  metricsSinceLaunch,
  policyFile,
  sweepHandler,
} from './sweep-scenario.js';
import { createTopic, resetEmulator, seedInstances, sentMessages, target } from './support.js';

/** Decides, per attempt, whether a request fails before it reaches the emulator. */
type Fault = (region: string, command: string, attempt: number) => Error | undefined;

function serviceError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} (injected)`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/**
 * Sweep services over real SDK clients for the emulator with `fault` installed right after the SDK's retry
 * middleware, so that every attempt (the first and each retry) passes through it. Counts the attempts.
 */
function faultyServices(fault: Fault, maxAttempts = 3): { services: SweepServices; attempts: string[] } {
  const attempts: string[] = [];
  const perCall = new Map<string, number>();
  const inject =
    (region: string): FinalizeRequestMiddleware<object, MetadataBearer> =>
    (next, context) =>
    async (args) => {
      const command = context.commandName ?? '?';
      const key = `${region}/${command}/${(context as { __callId?: string }).__callId ?? ''}`;
      const attempt = (perCall.get(key) ?? 0) + 1;
      perCall.set(key, attempt);
      attempts.push(`${region} ${command}`);
      const err = fault(region, command, attempt);
      if (err) throw err;
      return next(args);
    };
  const install = <C extends EC2Client | CloudWatchClient>(client: C, region: string): C => {
    // A fresh key per send(), so that `attempt` counts the retries of one call.
    (client.middlewareStack as MiddlewareStack<object, MetadataBearer>).add(
      (next, context) => async (args) => {
        (context as { __callId?: string }).__callId = Math.random().toString(36).slice(2);
        return next(args);
      },
      { step: 'initialize', name: 'faultCallId' },
    );
    (client.middlewareStack as MiddlewareStack<object, MetadataBearer>).addRelativeTo(inject(region), {
      relation: 'after',
      toMiddleware: 'retryMiddleware',
      name: 'injectFaults',
    });
    return client;
  };
  const config = (t: AwsTarget) => ({ ...clientConfig({ ...target(t.region), ...t }), maxAttempts });
  const ec2 = new Map<string, Ec2Adapter>();
  const cw = new Map<string, MetricsAdapter>();
  return {
    attempts,
    services: {
      ec2(t) {
        const found =
          ec2.get(t.region) ?? new Ec2Adapter(install(new EC2Client(config(t)), t.region), t.region);
        ec2.set(t.region, found);
        return found;
      },
      metrics(t) {
        const found =
          cw.get(t.region) ?? new MetricsAdapter(install(new CloudWatchClient(config(t)), t.region));
        cw.set(t.region, found);
        return found;
      },
    },
  };
}

describe('the sweep handler under injected AWS faults (moto)', () => {
  beforeEach(async () => {
    await resetEmulator();
  });

  it('absorbs throttling, skips a throttled region and a CloudWatch outage, reports both and fails the run', async () => {
    // Prepare: in each region one idle instance warned long ago (due for a stop), in us-east-1 a fresh idle one.
    const [dueUs, fresh] = await seedInstances('us-east-1', {}, {});
    const [dueEu] = await seedInstances('eu-west-1', {});
    const [dueAp] = await seedInstances('ap-south-1', {});
    if (!dueUs || !fresh || !dueEu || !dueAp) throw new Error('seeding failed');
    const launch = await launchTimeOf('us-east-1', [dueUs, fresh]);
    const now = hoursAfter(launch, 5);
    const warnedAt = hoursAfter(launch, 3).toISOString();
    for (const [region, id] of [
      ['us-east-1', dueUs],
      ['eu-west-1', dueEu],
      ['ap-south-1', dueAp],
    ] as const) {
      await new EC2Client(clientConfig(target(region))).send(
        new (await import('@aws-sdk/client-ec2')).CreateTagsCommand({
          Resources: [id],
          Tags: [
            { Key: TAGS.warnedAt, Value: warnedAt },
            { Key: TAGS.warnRule, Value: 'idle' },
          ],
        }),
      );
      await metricsSinceLaunch(region, id, IDLE, launch, now);
    }
    await metricsSinceLaunch('us-east-1', fresh, IDLE, launch, now);
    const topicArn = await createTopic('us-east-1');
    // Faults: the first attempt of DescribeInstances and GetMetricData in us-east-1 is throttled (the SDK retries); every EC2 call in
    // eu-west-1 is throttled (RequestLimitExceeded, beyond the retries); CloudWatch in ap-south-1 answers 503.
    const { services, attempts } = faultyServices((region, command, attempt) => {
      if (region === 'us-east-1' && attempt === 1 && /DescribeInstances|GetMetricData/.test(command)) {
        return serviceError('ThrottlingException', 400);
      }
      if (region === 'eu-west-1') return serviceError('RequestLimitExceeded', 503);
      if (region === 'ap-south-1' && command === 'GetMetricDataCommand') {
        return serviceError('ServiceUnavailable', 503);
      }
      return undefined;
    });
    const runner = sweepHandler({
      region: 'us-east-1',
      topicArn,
      policy: policyFile('regions: [us-east-1, eu-west-1, ap-south-1]\nmetricsApi: GetMetricData\n'),
      services,
    });

    // Act
    const failure = await runner.at(now).catch((e: unknown) => e);

    // Assess: the run finished and failed loudly.
    expect(failure).toBeInstanceOf(SweepIncompleteError);
    const summary = (failure as SweepIncompleteError).summary;
    // us-east-1: every throttled first attempt was retried; the due instance stopped, the fresh one warned.
    expect(attempts.filter((a) => a === 'us-east-1 DescribeInstancesCommand').length).toBe(2);
    // two metric reads (CPU, then network of the low-CPU instances), each throttled once and retried
    expect(attempts.filter((a) => a === 'us-east-1 GetMetricDataCommand').length).toBe(4);
    expect(summary.stopped).toEqual([dueUs]);
    expect(summary.warned).toEqual([fresh]);
    expect((await instanceState('us-east-1', dueUs)).state).toMatch(/stopping|stopped/);
    // eu-west-1: nothing could be read, so nothing was touched; the region is reported as failed.
    expect(summary.scopes.find((s) => s.region === 'eu-west-1')).toMatchObject({ ok: false });
    expect((await instanceState('eu-west-1', dueEu)).state).toBe('running');
    // ap-south-1: without metrics nothing is idle; the instance runs on and keeps its warning.
    const ap = await instanceState('ap-south-1', dueAp);
    expect(ap.state).toBe('running');
    expect(ap.tags[TAGS.warnedAt]).toBe(warnedAt);
    expect(summary.errors.map((e) => [e.region, e.operation])).toEqual([
      ['eu-west-1', 'ec2:DescribeInstances'],
      ['ap-south-1', 'cloudwatch:GetMetricData'],
    ]);
    // The admin's summary alert says what was skipped.
    const alert = (await sentMessages(topicArn)).find((m) => m.attributes.audience === 'admin');
    expect(alert?.message).toContain('eu-west-1');
    expect(alert?.message).toContain('ap-south-1');
    expect(runner.logs.map((l) => l.level)).toEqual(['error']);
  });
});
