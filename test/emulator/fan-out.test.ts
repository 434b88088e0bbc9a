/**
 * The fan-out end to end against moto (SQS, STS, EC2, SNS, SSM): the scheduled sweep handler plans a run over the
 * home account and two member accounts in two regions, the sweep-worker handler is invoked with the SQS event shape
 * Lambda uses for the messages it finds on the targets queue (this test plays Lambda's poller, with the queues'
 * redrive to the dead-letter queue as SQS does it), and the scheduled sweep's summary reaches the admin once.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsTarget, clientConfig } from '../../src/aws/clients.js';
import { type SweepServices, sdkSweepServices } from '../../src/aws/services.js';
import { TARGET_ATTEMPTS, type TargetMessage } from '../../src/core/fan-out.js';
import type { LogRecord } from '../../src/core/log.js';
import { TAGS } from '../../src/core/policy.js';
import { sdkFanOutDeps } from '../../src/handlers/fan-out-deps.js';
import { createSweepHandler, type SweepSummary } from '../../src/handlers/sweep.js';
import { createSweepWorkerHandler, type SqsEvent } from '../../src/handlers/sweep-worker.js';
import { policyFile } from '../support/policy-file.js';
import { amazonLinuxAmi, createTopic, endpoint, resetEmulator, sentMessages, target } from './support.js';

const HOME = 'us-east-1';
const REGIONS = [HOME, 'eu-west-1'] as const;
const MEMBERS = ['111111111111', '222222222222'] as const;
/** Past the 24 h free-tier uptime limit: every seeded t3.micro is warned. */
const LATER_MS = 30 * 3_600_000;
/** The target whose worker keeps failing (its message goes to the dead-letter queue). */
const BROKEN = { account: MEMBERS[1], region: 'eu-west-1' } as const;

const POLICY = [
  `regions: [${REGIONS.join(', ')}]`,
  'accounts:',
  ...MEMBERS.map((id) => `  - id: "${id}"`),
  'fanOut:',
  '  mode: on',
  '  settleMinutes: 2',
].join('\n');

let topicArn: string;
let queues: { targets: string; results: string; deadLetter: string; targetsArn: string };
const sqs = () => new SQSClient(clientConfig(target(HOME)));

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(HOME);
  const client = sqs();
  const url = async (name: string, attributes: Record<string, string> = {}) =>
    (await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl ?? '';
  const arnOf = async (queueUrl: string) =>
    (await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })))
      .Attributes?.QueueArn ?? '';
  const deadLetter = await url('cost-watchdog-targets-dlq');
  // As resources/fan-out.yml, with a short visibility timeout so that a failed target comes back within seconds.
  const targets = await url('cost-watchdog-targets', {
    VisibilityTimeout: '2',
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: await arnOf(deadLetter),
      maxReceiveCount: String(TARGET_ATTEMPTS),
    }),
  });
  const results = await url('cost-watchdog-results', { VisibilityTimeout: '960' });
  queues = { targets, results, deadLetter, targetsArn: await arnOf(targets) };
});

/** EC2 in a member account, with the credentials moto's STS gives for its member role. */
async function memberEc2(account: string, region: string): Promise<EC2Client> {
  const sts = new STSClient(clientConfig(target(HOME)));
  const res = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/cost-watchdog/cost-watchdog-member`,
      RoleSessionName: 'seed',
    }),
  );
  const c = res.Credentials;
  return new EC2Client(
    clientConfig({
      ...target(region),
      credentials: {
        accessKeyId: c?.AccessKeyId ?? '',
        secretAccessKey: c?.SecretAccessKey ?? '',
        sessionToken: c?.SessionToken ?? '',
      },
    }),
  );
}

async function launch(ec2: EC2Client, region: string, owner: string): Promise<string> {
  const res = await ec2.send(
    new RunInstancesCommand({
      ImageId: await amazonLinuxAmi(region),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Owner', Value: owner }] }],
    }),
  );
  return res.Instances?.[0]?.InstanceId ?? '';
}

async function tagsOf(ec2: EC2Client, id: string): Promise<Record<string, string>> {
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const tags = res.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
  return Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? '']));
}

/** The env serverless.yml gives the sweep and the worker in a stack with the fan-out. */
function env(policy: string): NodeJS.ProcessEnv {
  return {
    AWS_REGION: HOME,
    AWS_ENDPOINT_URL: endpoint(),
    TOPIC_ARN: topicArn,
    POLICY_FILE: policy,
    FAN_OUT: 'on',
    TARGETS_QUEUE_URL: queues.targets,
    RESULTS_QUEUE_URL: queues.results,
    DEAD_LETTER_QUEUE_URL: queues.deadLetter,
  };
}

/**
 * The scheduled sweep as deployed (env), with its fan-out's SQS queues and SSM claims; moto answers a long poll by
 * holding a server thread, so the test polls for a second at a time instead of SQS's 20.
 */
function scheduledSweep(now: Date, policy: string, log: (r: LogRecord) => void) {
  const e = env(policy);
  return createSweepHandler({
    clock: () => now,
    env: e,
    log,
    fanOut: { ...sdkFanOutDeps(target(HOME), e, () => new Date(), log), pollSeconds: 1 },
  });
}

/** The worker's services, whose EC2 for the BROKEN target throws (as a crash of the worker would). */
function servicesBrokenFor(broken: typeof BROKEN): SweepServices {
  const real = sdkSweepServices();
  return {
    ...real,
    ec2(t: AwsTarget) {
      if (t.account === broken.account && t.region === broken.region) throw new Error('worker crashed');
      return real.ec2(t);
    },
  };
}

/**
 * Lambda's SQS poller for the worker until `done()`: receives up to 10 target messages, invokes the handler with them
 * in Lambda's event shape, deletes the ones not reported as failures. Returns every message body it handed over.
 */
async function pollTargets(
  worker: (event: SqsEvent) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>,
  done: () => boolean,
): Promise<{ bodies: string[]; failures: number }> {
  const client = sqs();
  const bodies: string[] = [];
  let failures = 0;
  while (!done()) {
    const res = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.targets,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = res.Messages ?? [];
    if (messages.length === 0) continue;
    const event: SqsEvent = {
      Records: messages.map((m) => ({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
          SenderId: 'sender',
          ApproximateFirstReceiveTimestamp: '0',
        },
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queues.targetsArn,
        awsRegion: HOME,
      })),
    };
    bodies.push(...event.Records.map((r) => r.body));
    const { batchItemFailures } = await worker(event);
    failures += batchItemFailures.length;
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    const handled = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    if (handled.length > 0) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queues.targets,
          Entries: handled.map((m, k) => ({ Id: String(k), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
  return { bodies, failures };
}

describe('a fanned-out sweep over three accounts in two regions', () => {
  it('sends one message per target, sweeps each in the worker, names the dead-lettered one and alerts once', async () => {
    // Prepare: instances at home, in both member accounts and both regions
    const home = await launch(new EC2Client(clientConfig(target(HOME))), HOME, 'alice');
    const firstEast = await memberEc2(MEMBERS[0], HOME);
    const firstWest = await memberEc2(MEMBERS[0], 'eu-west-1');
    const secondEast = await memberEc2(MEMBERS[1], HOME);
    const a = await launch(firstEast, HOME, 'bob');
    const b = await launch(firstWest, 'eu-west-1', 'bob');
    const c = await launch(secondEast, HOME, 'carol');
    const now = new Date(Date.now() + LATER_MS);
    const policy = policyFile(POLICY);
    const logs: LogRecord[] = [];
    const sweep = scheduledSweep(now, policy, (r) => logs.push(r));
    const worker = createSweepWorkerHandler({
      clock: () => now,
      env: env(policy),
      services: servicesBrokenFor(BROKEN),
      log: (r) => logs.push(r),
    });

    // Act: the scheduled run, with the worker's trigger running beside it
    let finished = false;
    const run = sweep({ source: 'aws.events', 'detail-type': 'Scheduled Event' })
      .catch((err: { summary?: SweepSummary }) => {
        if (!err.summary) throw err;
        return err.summary;
      })
      .finally(() => {
        finished = true;
      });
    const [report, polled] = await Promise.all([run, pollTargets(worker, () => finished)]);

    // Assess: exactly one message per account x region, no credentials in any
    const messages = polled.bodies.map((b) => JSON.parse(b) as TargetMessage);
    const distinct = new Map(messages.map((m) => [m.index, m]));
    expect(distinct.size).toBe(6);
    expect([...distinct.values()].map((m) => m.total)).toEqual(Array(6).fill(6));
    expect(
      [...distinct.values()].map((m) => `${m.target.account ?? 'home'}/${m.target.region}`).sort(),
    ).toEqual(['home', ...MEMBERS].flatMap((acc) => REGIONS.map((r) => `${acc}/${r}`)).sort());
    expect(polled.bodies.join('\n')).not.toMatch(/AccessKey|Secret|SessionToken|credentials/i);
    // The broken target was received TARGET_ATTEMPTS times, every other one once.
    const brokenReceives = messages.filter(
      (m) => m.target.account === BROKEN.account && m.target.region === BROKEN.region,
    );
    expect(brokenReceives).toHaveLength(TARGET_ATTEMPTS);
    expect(messages).toHaveLength(5 + TARGET_ATTEMPTS);

    // Assess: one report over every target, the failing one named as dead-lettered
    expect(report.scopes).toHaveLength(6);
    expect(report.scopes.filter((s) => !s.ok)).toEqual([
      expect.objectContaining({ ...BROKEN, ok: false, error: expect.stringContaining('dead-letter queue') }),
    ]);
    expect(report.errors).toEqual([
      expect.objectContaining({ ...BROKEN, operation: 'fan-out (dead-letter queue)' }),
    ]);
    expect([...report.warned].sort()).toEqual([home, a, b, c].sort());
    expect(report.fanOut).toMatchObject({ targets: 6, results: 5, deadLettered: [BROKEN], missing: [] });
    expect((await tagsOf(firstWest, b))[TAGS.warnRule]).toBe('over-uptime');
    expect((await tagsOf(secondEast, c))[TAGS.warnRule]).toBe('over-uptime');

    // Assess: one admin summary naming the failed target, one alert per owner
    const sent = await sentMessages(topicArn);
    const admin = sent.filter((m) => m.attributes.audience === 'admin');
    expect(admin).toHaveLength(1);
    const email = (JSON.parse(admin[0]?.message ?? '{}') as { email: string }).email;
    expect(email).toContain(`account ${BROKEN.account} ${BROKEN.region} fan-out (dead-letter queue)`);
    expect(email).toContain('5 of 6 targets answered, 1 failed (dead-letter queue)');
    expect(
      sent
        .map((m) => m.attributes.owner)
        .filter(Boolean)
        .sort(),
    ).toEqual(['alice', 'bob', 'carol']);
  }, 120_000);

  it('sends nothing when a second invocation arrives for the same run', async () => {
    // Prepare: one instance, and a first run that summarised
    await launch(new EC2Client(clientConfig(target(HOME))), HOME, 'alice');
    const now = new Date(Date.now() + LATER_MS);
    const policy = policyFile(POLICY);
    const sweep = scheduledSweep(now, policy, () => undefined);
    const worker = createSweepWorkerHandler({ clock: () => now, env: env(policy), log: () => undefined });
    let finished = false;
    const first = sweep({ source: 'aws.events' }).finally(() => {
      finished = true;
    });
    await Promise.all([first, pollTargets(worker, () => finished)]);
    const sentBefore = (await sentMessages(topicArn)).length;

    // Act: the same schedule event delivered again
    const again = (await sweep({ source: 'aws.events' })) as SweepSummary;

    // Assess: claimed already, nothing sent, nothing on the targets queue
    expect(sentBefore).toBeGreaterThan(0);
    expect(again.fanOut).toMatchObject({ duplicate: true });
    expect(await sentMessages(topicArn)).toHaveLength(sentBefore);
    const left = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: queues.targets,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(left.Attributes?.ApproximateNumberOfMessages).toBe('0');
  }, 120_000);
});
