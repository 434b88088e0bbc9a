import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import { createLaunchGuardHandler } from '../../src/handlers/launch-guard.js';
import {
  clients,
  createTopic,
  EMULATOR_ACCOUNT,
  endpoint,
  resetEmulator,
  seedInstances,
  sentMessages,
} from './support.js';
import { policyFile } from '../support/policy-file.js';

const REGION = 'us-east-1';

const regionPolicy = (text: string) => policyFile(`regions: [${REGION}]\n${text}`);

/** The event EventBridge delivers for an instance entering `running` (as documented for EC2). */
function stateChange(instanceId: string, at: Date, state = 'running') {
  return {
    version: '0',
    id: 'ee376907-2647-4179-9203-343cfb3017a4',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: EMULATOR_ACCOUNT,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: REGION,
    resources: [`arn:aws:ec2:${REGION}:${EMULATOR_ACCOUNT}:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}

async function handlerFor(policy: string) {
  const topicArn = await createTopic(REGION);
  const handler = createLaunchGuardHandler({
    clock: () => new Date(),
    env: {
      AWS_REGION: REGION,
      TOPIC_ARN: topicArn,
      POLICY_FILE: regionPolicy(policy),
      AWS_ENDPOINT_URL: endpoint(),
    },
    log: () => {},
  });
  return { handler, topicArn };
}

beforeEach(async () => {
  await resetEmulator();
});

describe('launch guard on the emulator', () => {
  it('alerts within the invocation when a t3.large starts, naming the instance, its type, its price and the rule', async () => {
    // Prepare
    const { handler, topicArn } = await handlerFor('');
    const [id] = (await seedInstances(REGION, {
      type: 't3.large',
      tags: { Owner: 'alice', Name: 'big' },
    })) as [string];

    // Act
    const started = Date.now();
    const result = await handler(stateChange(id, new Date()));
    const tookMs = Date.now() - started;

    // Assess
    expect(result).toMatchObject({ status: 'alerted', instanceId: id });
    expect(tookMs).toBeLessThan(60_000);
    const sent = await sentMessages(topicArn);
    expect(sent.map((m) => m.attributes)).toEqual([{ audience: 'admin' }, { owner: 'alice' }]);
    const body = JSON.parse(sent[0]?.message ?? '{}') as { default: string; email: string };
    expect(sent[0]?.subject).toBe(`cost-watchdog: t3.large ${id} started (non-free-tier)`);
    expect(body.email).toContain(`Instance ${id} (big, owner alice) started in ${REGION}`);
    expect(body.email).toContain('Price:  $0.0832/h, about $2.00/day (estimate, table)');
    expect(body.email).toContain('- non-free-tier: t3.large is not free-tier eligible in us-east-1');
    expect(JSON.parse(body.default)).toMatchObject({
      kind: 'cost-watchdog/launch',
      instanceId: id,
      instanceType: 't3.large',
      price: { usdPerHour: 0.0832, source: 'bundled-table', estimate: true },
      rules: [{ rule: 'non-free-tier' }],
      action: 'alert',
    });
  });

  it('stays quiet about a free-tier t3.micro with an owner', async () => {
    // Prepare
    const { handler, topicArn } = await handlerFor('');
    const [id] = (await seedInstances(REGION, { type: 't3.micro', tags: { Owner: 'alice' } })) as [string];

    // Act
    const result = await handler(stateChange(id, new Date()));

    // Assess
    expect(result.status).toBe('compliant');
    expect(await sentMessages(topicArn)).toEqual([]);
  });

  it('stops the t3.large at once with nonFreeTier.action stop and launchGuard.immediate, and tags why', async () => {
    // Prepare
    const { handler } = await handlerFor('nonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n');
    const [id] = (await seedInstances(REGION, { type: 't3.large', tags: { Owner: 'bob' } })) as [string];

    // Act
    const result = await handler(stateChange(id, new Date()));

    // Assess
    expect(result.status).toBe('stopped');
    const res = await clients(REGION).ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const instance = res.Reservations?.[0]?.Instances?.[0];
    expect(instance?.State?.Name).toBe('stopped');
    expect(instance?.Tags?.find((t) => t.Key === TAGS.stopReason)?.Value).toMatch(
      /^launch-guard: t3\.large is not free-tier/,
    );
  });

  it('ignores a malformed event without throwing', async () => {
    const { handler, topicArn } = await handlerFor('');

    const result = await handler({ source: 'aws.ec2', detail: { state: 'running' } });

    expect(result.status).toBe('ignored');
    expect(await sentMessages(topicArn)).toEqual([]);
  });
});
