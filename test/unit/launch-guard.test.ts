import { SSMClient } from '@aws-sdk/client-ssm';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CostServices } from '../../src/aws/cost-services.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { Ec2CostsAdapter } from '../../src/aws/ec2-costs.js';
import { PriceLookup } from '../../src/aws/pricing.js';
import type { ProvisionedUserList } from '../../src/aws/provisioned-users.js';
import { UsageStore } from '../../src/aws/usage-store.js';
import {
  checkLaunch,
  openToWorld,
  renderLaunchAlert,
  type SecurityGroupRules,
} from '../../src/core/launch-check.js';
import type { LogRecord } from '../../src/core/log.js';
import { TAGS } from '../../src/core/policy.js';
import { bundledPrice } from '../../src/core/prices.js';
import type { Alert } from '../../src/core/report.js';
import { createLaunchGuardHandler } from '../../src/handlers/launch-guard.js';
import type { Instance } from '../../src/core/instance.js';
import { makeInstance, NOW, policyWith } from '../support/fleet.js';
import { policyFile } from '../support/policy-file.js';

const ec2 = mockClient(EC2Client);
const ID = 'i-0123456789abcdef0';

const sshOnly: SecurityGroupRules = {
  groupId: 'sg-1',
  groupName: 'ssh',
  ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrs: ['203.0.113.0/24'] }],
};
const openJupyter: SecurityGroupRules = {
  groupId: 'sg-2',
  groupName: 'jupyter',
  ingress: [{ protocol: 'tcp', fromPort: 8888, toPort: 8888, cidrs: ['0.0.0.0/0'] }],
};

describe('checking a just-started instance', () => {
  const large = () =>
    makeInstance({
      instanceType: 't3.large',
      typeInfo: { freeTierEligible: false, gpu: false },
      tags: { Owner: 'alice' },
    });

  it.each([
    ['a free-tier t3.micro with an owner and SSH from one network', {}, [sshOnly], []],
    [
      'a t3.large',
      { instanceType: 't3.large', typeInfo: { freeTierEligible: false, gpu: false } },
      [],
      ['non-free-tier'],
    ],
    ['an instance without the Owner tag', { tags: { Name: 'x' } }, [], ['missing-owner']],
    ['an instance with Jupyter open to the world', {}, [openJupyter], ['open-to-world']],
    ['a type of unknown eligibility', { typeInfo: { gpu: false } }, [], []],
  ])('finds %s breaks %j', (_name, overrides, groups, rules) => {
    const v = checkLaunch(
      makeInstance(overrides),
      groups,
      bundledPrice('t3.micro', 'us-east-1'),
      policyWith(),
      NOW,
    );

    expect(v.findings.map((f) => f.rule)).toEqual(rules);
    expect(v.action).toBe(rules.length === 0 ? 'none' : 'alert');
  });

  it('accepts a non-free-tier type the policy allows', () => {
    const policy = policyWith({ nonFreeTier: { allowedTypes: ['t3.large'] } });

    expect(checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), policy, NOW).action).toBe('none');
  });

  it.each([
    [{ nonFreeTier: { action: 'notify' } }, 'alert', undefined],
    [{ nonFreeTier: { action: 'stop' } }, 'warn', '2026-11-25T15:00:00.000Z'],
    [{ nonFreeTier: { action: 'stop' }, launchGuard: { immediate: true } }, 'stop', undefined],
    [{ nonFreeTier: { action: 'notify' }, launchGuard: { immediate: true } }, 'alert', undefined],
  ])('with policy %j a t3.large gets %s', (policy, action, stopAfter) => {
    const v = checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), policyWith(policy), NOW);

    expect(v.action).toBe(action);
    expect(v.stopAfter).toBe(stopAfter);
  });

  it('never stops a protected instance, even with immediate', () => {
    const policy = policyWith({ nonFreeTier: { action: 'stop' }, launchGuard: { immediate: true } });
    const spot = makeInstance({
      instanceType: 't3.large',
      lifecycle: 'spot',
      typeInfo: { freeTierEligible: false, gpu: false },
    });

    const v = checkLaunch(spot, [], bundledPrice('t3.large', 'us-east-1'), policy, NOW);

    expect(v).toMatchObject({ action: 'alert', protection: 'spot' });
    expect(v.outcome).toContain('never stopped');
  });

  describe('an instance of a provisioned user that starts switched off from the watchdog', () => {
    const price = bundledPrice('t3.micro', 'us-east-1');
    const student = (change: Partial<Instance>) =>
      makeInstance({ ...change, tags: { Owner: 'alice', ...(change.tags ?? {}) } });

    it.each<[string, Partial<Instance>, RegExp]>([
      ['exempt', { tags: { [TAGS.exempt]: 'true' } }, /started exempt \(tag cost-watchdog:exempt=true\)/],
      [
        'exempt with any value',
        { tags: { [TAGS.exempt]: 'yes' } },
        /started exempt \(tag cost-watchdog:exempt="yes"/,
      ],
      ['snoozed for years', { tags: { [TAGS.exempt]: '9999-12-31' } }, /started snoozed until 9999-12-31/],
      [
        'as a forged Kubernetes node',
        { tags: { 'kubernetes.io/cluster/x': 'owned' } },
        /with tag kubernetes\.io\/cluster\/x, which claims a Kubernetes node \(not trusted/,
      ],
      [
        'stop-protected',
        { stopProtected: true },
        /with stop protection on \(DisableApiStop\), so the watchdog cannot stop it/,
      ],
    ])('%s: an opted-out finding for the admin', (_case, change, reason) => {
      const v = checkLaunch(student(change), [], price, policyWith(), NOW, { ownerProvisioned: true });

      expect(v.findings.map((f) => f.rule)).toEqual(['opted-out']);
      expect(v.findings[0]?.reason).toMatch(reason);
      expect(v.action).toBe('alert');
    });

    it('is no finding when the owner is not a provisioned user (the admin exempted their own machine)', () => {
      const v = checkLaunch(
        student({ stopProtected: true, tags: { [TAGS.exempt]: 'true' } }),
        [],
        price,
        policyWith(),
        NOW,
        {
          ownerProvisioned: false,
        },
      );

      expect(v.findings).toEqual([]);
    });

    it('is reported when IAM cannot tell whether the owner is provisioned, and says so', () => {
      const v = checkLaunch(student({ stopProtected: true }), [], price, policyWith(), NOW, {
        ownerProvisioned: 'unknown',
      });

      expect(v.findings[0]?.reason).toMatch(/whether alice is a provisioned user could not be checked/);
    });

    it('with stopProtection: clear, asks to turn stop protection off and judges the instance without it', () => {
      const policy = policyWith({
        stopProtection: 'clear',
        nonFreeTier: { action: 'stop' },
        launchGuard: { immediate: true },
      });
      const big = student({
        stopProtected: true,
        instanceType: 't3.large',
        typeInfo: { freeTierEligible: false, gpu: false },
      });

      const v = checkLaunch(big, [], price, policy, NOW, { ownerProvisioned: true });

      expect(v).toMatchObject({ clearStopProtection: true, protection: null, action: 'stop' });
      expect(v.findings.map((f) => f.rule)).toEqual(['non-free-tier', 'opted-out']);
      expect(v.outcome).toMatch(/^its stop protection is turned off \(stopProtection: clear/);
    });

    it('never clears the stop protection of an instance whose owner is not provisioned', () => {
      const v = checkLaunch(
        student({ stopProtected: true }),
        [],
        price,
        policyWith({ stopProtection: 'clear' }),
        NOW,
        {
          ownerProvisioned: false,
        },
      );

      expect(v.clearStopProtection).toBeUndefined();
      expect(v.protection).toBe('stop-protected');
    });
  });

  it('describes world-open rules by group, protocol and port', () => {
    expect(
      openToWorld([
        openJupyter,
        { groupId: 'sg-3', ingress: [{ protocol: '-1', cidrs: ['::/0'] }] },
        sshOnly,
      ]),
    ).toEqual(['sg-2 (jupyter): tcp 8888 from 0.0.0.0/0', 'sg-3: all traffic from ::/0']);
  });

  it('names the instance, its type, its hourly price with its source, and the rule in the alert', () => {
    const v = checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), policyWith(), NOW);

    const alert = renderLaunchAlert(v, policyWith());

    expect(alert.subject).toBe(`cost-watchdog: t3.large ${v.instanceId} started (non-free-tier)`);
    expect(alert.text).toContain('Type:   t3.large');
    expect(alert.text).toContain('Price:  $0.0832/h, about $2.00/day (estimate, table)');
    expect(alert.text).toContain('- non-free-tier: t3.large is not free-tier eligible');
    expect(alert.data).toMatchObject({
      instanceType: 't3.large',
      price: { usdPerHour: 0.0832, source: 'bundled-table' },
    });
  });
});

describe('the launch-guard handler', () => {
  let alerts: Alert[];
  let logs: LogRecord[];

  function services(): CostServices {
    const client = new EC2Client({ region: 'us-east-1' });
    return {
      ec2: (t) => new Ec2Adapter(client, t.region),
      costs: (t) => new Ec2CostsAdapter(client, t.region),
      prices: new PriceLookup(),
      usage: new UsageStore(new SSMClient({ region: 'us-east-1' })),
    };
  }

  function handler(policy = '', provisioned: ProvisionedUserList = { names: new Set(['alice']) }) {
    return createLaunchGuardHandler({
      provisionedUsers: { list: async () => provisioned },
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
        POLICY_FILE: policyFile(policy),
      },
      services: services(),
      notifier: { publish: async (a) => alerts.push(a) },
      log: (r) => logs.push(r),
    });
  }

  function event(state = 'running', id = ID): unknown {
    return {
      version: '0',
      id: '7bf73129-1428-4cd3-a780-95db273d1602',
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      account: '123456789012',
      time: NOW.toISOString(),
      region: 'us-east-1',
      resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${id}`],
      detail: { 'instance-id': id, state },
    };
  }

  function launched(type: string, tags: Record<string, string> = { Owner: 'alice' }) {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: ID,
              InstanceType: type as never,
              State: { Name: 'running' },
              LaunchTime: new Date(NOW.getTime() - 30_000),
              Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
              SecurityGroups: [{ GroupId: 'sg-1' }],
              RootDeviceType: 'ebs',
            },
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [{ InstanceType: type as never, FreeTierEligible: type === 't3.micro' }],
    });
    ec2.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: 'sg-1',
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: false } });
    ec2
      .on(StopInstancesCommand)
      .resolves({ StoppingInstances: [{ InstanceId: ID, CurrentState: { Name: 'stopping' } }] });
    ec2.on(CreateTagsCommand).resolves({});
  }

  beforeEach(() => {
    ec2.reset();
    alerts = [];
    logs = [];
  });

  it.each([
    ['an empty object', {}],
    ['null', null],
    ['a string', 'hello'],
    [
      'a scheduled event',
      { source: 'aws.events', 'detail-type': 'Scheduled Event', region: 'us-east-1', detail: {} },
    ],
    ['a state change without an instance id', { ...(event() as object), detail: { state: 'running' } }],
    [
      'a state change with a malformed id',
      { ...(event() as object), detail: { 'instance-id': 'rm -rf', state: 'running' } },
    ],
  ])('logs and ignores %s without throwing or calling AWS', async (_name, input) => {
    const result = await handler()(input);

    expect(result.status).toBe('ignored');
    expect(logs[0]).toMatchObject({ level: 'warn' });
    expect(ec2.calls()).toHaveLength(0);
    expect(alerts).toEqual([]);
  });

  it('ignores state changes other than running', async () => {
    const result = await handler()(event('stopped'));

    expect(result).toMatchObject({ status: 'ignored', reason: 'state stopped, not running' });
    expect(ec2.calls()).toHaveLength(0);
  });

  it('alerts the admin and the owner about a t3.large, with its price, and changes nothing by default', async () => {
    launched('t3.large');

    const result = await handler()(event());

    expect(result).toMatchObject({
      status: 'alerted',
      verdict: { usdPerHour: 0.0832, priceSource: 'bundled-table' },
    });
    expect(alerts.map((a) => a.owner)).toEqual([undefined, 'alice']);
    expect(alerts[0]?.text).toContain(`Instance ${ID} (owner alice) started in us-east-1`);
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('says nothing about a compliant t3.micro', async () => {
    launched('t3.micro');

    const result = await handler()(event());

    expect(result.status).toBe('compliant');
    expect(alerts).toEqual([]);
  });

  it('writes the warning tag so the next sweep stops it after the grace, with nonFreeTier.action stop', async () => {
    launched('t3.large');

    const result = await handler('nonFreeTier:\n  action: stop\n')(event());

    expect(result.status).toBe('warned');
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [ID],
      Tags: [
        { Key: TAGS.warnedAt, Value: NOW.toISOString() },
        { Key: TAGS.warnRule, Value: 'non-free-tier' },
      ],
    });
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  });

  it('stops at once with launchGuard.immediate and records why', async () => {
    launched('t3.large');

    const result = await handler('nonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n')(event());

    expect(result.status).toBe('stopped');
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [ID] });
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: expect.arrayContaining([{ Key: TAGS.stoppedAt, Value: NOW.toISOString() }]),
    });
    expect(alerts[0]?.text).toContain('stopped at once (launchGuard.immediate: true');
  });

  it('stops at once and says in the alert when the warning tag could not be removed afterwards', async () => {
    launched('t3.large');
    ec2.on(DeleteTagsCommand).rejects(
      Object.assign(new Error('not authorized to perform ec2:DeleteTags'), {
        name: 'UnauthorizedOperation',
      }),
    );

    const result = await handler('nonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n')(event());

    expect(result.status).toBe('stopped');
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [ID] });
    expect(alerts[0]?.text).toContain('stopped at once (launchGuard.immediate: true');
    expect(alerts[0]?.text).toMatch(
      /nothing was deleted; DeleteTags \(after stop\) failed \(UnauthorizedOperation\)/,
    );
  });

  it('does not stop a stop-protected instance even with launchGuard.immediate', async () => {
    launched('t3.large');
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });

    const result = await handler('nonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n')(event());

    expect(result.status).toBe('alerted');
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(alerts[0]?.text).toContain('stop protection is on');
  });

  it('alerts the admin within the invocation when a student starts a stop-protected instance, and changes nothing by default', async () => {
    launched('t3.micro');
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });

    const result = await handler()(event());

    expect(result.status).toBe('alerted');
    expect(result.verdict?.findings.map((f) => f.rule)).toEqual(['opted-out']);
    expect(alerts.map((a) => a.owner)).toEqual([undefined, 'alice']);
    expect(alerts[0]?.subject).toContain('(opted-out)');
    expect(ec2).not.toHaveReceivedCommand(ModifyInstanceAttributeCommand);
  });

  it('turns stop protection off with stopProtection: clear, and the alert says so', async () => {
    launched('t3.micro');
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });
    ec2.on(ModifyInstanceAttributeCommand).resolves({});

    const result = await handler('stopProtection: clear\n')(event());

    expect(ec2).toHaveReceivedCommandWith(ModifyInstanceAttributeCommand, {
      InstanceId: ID,
      DisableApiStop: { Value: false },
    });
    expect(result.verdict).toMatchObject({ stopProtectionCleared: true, protection: null });
    expect(alerts[0]?.text).toContain('its stop protection is turned off (stopProtection: clear');
  });

  it('keeps reporting the instance as stop-protected when turning the protection off fails', async () => {
    launched('t3.large');
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });
    ec2
      .on(ModifyInstanceAttributeCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'UnauthorizedOperation' }));

    const result = await handler(
      'stopProtection: clear\nnonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n',
    )(event());

    expect(result.status).toBe('alerted');
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(alerts[0]?.text).toMatch(
      /turning stop protection off failed \(UnauthorizedOperation\); it stays on/,
    );
  });

  it('never turns stop protection off in a dry run', async () => {
    launched('t3.micro');
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });

    const result = await handler('dryRun: true\nstopProtection: clear\n')(event());

    expect(result.status).toBe('dry-run');
    expect(ec2).not.toHaveReceivedCommand(ModifyInstanceAttributeCommand);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.text).toMatch(/What would have happened: turn its stop protection off, then /);
  });

  it('in a dry run changes nothing and tells the admin alone what it would have done, marked DRY RUN', async () => {
    launched('t3.large', { Owner: 'alice' });

    const result = await handler(
      'dryRun: true\nnonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n',
    )(event());

    expect(result.status).toBe('dry-run');
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    expect(ec2).not.toHaveReceivedCommand(ModifyInstanceAttributeCommand);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.owner).toBeUndefined();
    expect(alerts[0]?.subject).toMatch(/^cost-watchdog DRY RUN: would stop it at once: t3\.large /);
    expect(alerts[0]?.text).toMatch(/^DRY RUN: watchdog\.yml has dryRun: true/);
    expect(alerts[0]?.text).toMatch(/What would have happened: stop it at once .*\. Nothing was done\./);
    expect(alerts[0]?.data).toMatchObject({ dryRun: true, action: 'stop' });
  });

  it('does nothing when launchGuard.enabled is false', async () => {
    const result = await handler('launchGuard:\n  enabled: false\n')(event());

    expect(result).toMatchObject({ status: 'ignored', reason: 'launchGuard.enabled is false' });
    expect(ec2.calls()).toHaveLength(0);
  });

  it('logs an AWS failure and returns instead of throwing into a retry loop', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }));

    const result = await handler()(event());

    expect(result).toMatchObject({ status: 'error', reason: 'RequestLimitExceeded: Rate exceeded' });
    expect(logs.at(-1)).toMatchObject({ level: 'error' });
  });
});
