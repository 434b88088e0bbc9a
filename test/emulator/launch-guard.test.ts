import { DescribeInstanceAttributeCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { AddUserToGroupCommand, CreateGroupCommand, CreateUserCommand } from '@aws-sdk/client-iam';
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

  describe('an instance of a provisioned student that starts switched off from the watchdog', () => {
    /** The IAM group provision creates, with `user` in it. */
    async function provisioned(user: string) {
      const { iam } = clients(REGION);
      await iam.send(new CreateGroupCommand({ GroupName: 'cost-watchdog-users', Path: '/cost-watchdog/' }));
      await iam.send(new CreateUserCommand({ UserName: user, Path: '/cost-watchdog/' }));
      await iam.send(new AddUserToGroupCommand({ GroupName: 'cost-watchdog-users', UserName: user }));
    }
    const stopProtection = async (id: string) =>
      (
        await clients(REGION).ec2.send(
          new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'disableApiStop' }),
        )
      ).DisableApiStop?.Value;

    it('reaches the admin within one launch-guard run when it starts stop-protected', async () => {
      // Prepare
      await provisioned('zoe');
      const { handler, topicArn } = await handlerFor('');
      const [id] = (await seedInstances(REGION, { tags: { Owner: 'zoe' }, stopProtected: true })) as [string];

      // Act
      const result = await handler(stateChange(id, new Date()));

      // Assess
      expect(result.status).toBe('alerted');
      const sent = await sentMessages(topicArn);
      expect(sent.map((m) => m.attributes)).toEqual([{ audience: 'admin' }, { owner: 'zoe' }]);
      expect(sent[0]?.subject).toBe(`cost-watchdog: t3.micro ${id} started (opted-out)`);
      const email = (JSON.parse(sent[0]?.message ?? '{}') as { email: string }).email;
      expect(email).toContain(
        '- opted-out: the instance of provisioned user zoe started with stop protection on',
      );
      expect(await stopProtection(id)).toBe(true);
    });

    it('has its stop protection turned off with stopProtection: clear, so the sweep can stop it later', async () => {
      // Prepare
      await provisioned('zoe');
      const { handler } = await handlerFor('stopProtection: clear\n');
      const [id] = (await seedInstances(REGION, { tags: { Owner: 'zoe' }, stopProtected: true })) as [string];

      // Act
      const result = await handler(stateChange(id, new Date()));

      // Assess
      expect(result.verdict).toMatchObject({ stopProtectionCleared: true, protection: null });
      expect(await stopProtection(id)).toBe(false);
    });

    it('leaves the stop protection of someone who is not a provisioned user alone and says nothing', async () => {
      // Prepare: zoe is provisioned, the admin's own instance is not hers
      await provisioned('zoe');
      const { handler, topicArn } = await handlerFor('stopProtection: clear\n');
      const [id] = (await seedInstances(REGION, { tags: { Owner: 'admin' }, stopProtected: true })) as [
        string,
      ];

      // Act
      const result = await handler(stateChange(id, new Date()));

      // Assess
      expect(result.status).toBe('compliant');
      expect(await stopProtection(id)).toBe(true);
      expect(await sentMessages(topicArn)).toEqual([]);
    });

    it('reaches the admin when it starts with a forged Kubernetes tag or an exempt tag', async () => {
      // Prepare
      await provisioned('zoe');
      const { handler, topicArn } = await handlerFor('');
      const [forged, exempt] = (await seedInstances(
        REGION,
        { tags: { Owner: 'zoe', 'kubernetes.io/cluster/x': 'owned' } },
        { tags: { Owner: 'zoe', [TAGS.exempt]: '9999-12-31' } },
      )) as [string, string];

      // Act
      await handler(stateChange(forged, new Date()));
      await handler(stateChange(exempt, new Date()));

      // Assess
      const admin = (await sentMessages(topicArn)).filter((m) => m.attributes.audience === 'admin');
      expect(admin.map((m) => m.subject)).toEqual([
        `cost-watchdog: t3.micro ${forged} started (opted-out)`,
        `cost-watchdog: t3.micro ${exempt} started (opted-out)`,
      ]);
    });
  });
});
