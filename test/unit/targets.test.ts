import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ListAccountsCommand, OrganizationsClient } from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AwsTarget } from '../../src/aws/clients.js';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { OrganizationAccounts } from '../../src/aws/organizations.js';
import type { SweepServices } from '../../src/aws/services.js';
import { MemberCredentials } from '../../src/aws/sts.js';
import { ConfigError } from '../../src/core/errors.js';
import { type Policy, policySchema } from '../../src/core/policy.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { resolveTargets } from '../../src/jobs/targets.js';
import { makeInstance } from '../support/fleet.js';
import { InMemoryFleet } from './in-memory-fleet.js';

const HOME: AwsTarget = { region: 'us-east-1' };
const SELF = '123456789012';
const NOW = new Date('2026-11-25T14:00:00Z');

/** EC2 clients per account ('' = home), each mocked on its own, so DescribeRegions can differ per account. */
const ec2Clients = new Map<string, EC2Client>();
const ec2Of = (account = '') => {
  let c = ec2Clients.get(account);
  if (!c) {
    c = new EC2Client({ region: 'us-east-1' });
    ec2Clients.set(account, c);
  }
  return c;
};
const sts = mockClient(STSClient);
const orgs = mockClient(OrganizationsClient);

function services(withAccounts = true): SweepServices {
  const base: SweepServices = {
    ec2: (t) => new Ec2Adapter(ec2Of(t.account), t.region, t.account),
    metrics: () => new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' })),
  };
  if (!withAccounts) return base;
  const access = {
    credentials: new MemberCredentials(new STSClient({ region: 'us-east-1' }), 'us-east-1', () => NOW),
    organization: new OrganizationAccounts(new OrganizationsClient({ region: 'us-east-1' })),
  };
  return { ...base, accounts: () => access };
}

const policy = (input: Record<string, unknown>): Policy => policySchema.parse(input);

const regionsReply = (...names: [string, string][]) => ({
  Regions: names.map(([RegionName, OptInStatus]) => ({ RegionName, OptInStatus })),
});

function assumeReplies(failFor: string[] = []) {
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
    const account = input.RoleArn.split(':')[4] ?? '';
    if (failFor.includes(account)) {
      const err = new Error(`User is not authorized to perform: sts:AssumeRole on ${input.RoleArn}`);
      err.name = 'AccessDenied';
      throw err;
    }
    return {
      Credentials: {
        AccessKeyId: `AKIA${account}`,
        SecretAccessKey: 'secret',
        SessionToken: 'token',
        Expiration: new Date(NOW.getTime() + 3_600_000),
      },
    };
  });
  sts.on(GetCallerIdentityCommand).resolves({ Account: SELF });
}

const summary = (targets: AwsTarget[]) =>
  targets.map((t) => [t.account ?? 'home', t.region, t.unavailable ? t.unavailable.operation : 'ok']);

describe('resolveTargets', () => {
  beforeEach(() => {
    sts.reset();
    orgs.reset();
    for (const account of ['', '111111111111', '222222222222', '333333333333'])
      mockClient(ec2Of(account)).reset();
  });

  it.each([
    [
      'the policy lists regions',
      { regions: ['eu-west-1', 'us-east-1'] },
      undefined,
      ['eu-west-1', 'us-east-1'],
    ],
    [
      '--region narrows the policy down',
      { regions: ['eu-west-1', 'us-east-1'] },
      ['us-west-2'],
      ['us-west-2'],
    ],
    ['the policy says all', { regions: 'all' }, undefined, ['eu-west-1', 'us-east-1']],
  ])('sweeps the home account in the right regions when %s', async (_case, input, only, expected) => {
    // Prepare
    mockClient(ec2Of())
      .on(DescribeRegionsCommand)
      .resolves(
        regionsReply(
          ['us-east-1', 'opt-in-not-required'],
          ['eu-west-1', 'opted-in'],
          ['af-south-1', 'not-opted-in'],
        ),
      );

    // Act
    const targets = await resolveTargets(policy(input), HOME, services(), only);

    // Assess
    expect(targets.map((t) => t.region)).toEqual(expected);
    expect(targets.every((t) => t.account === undefined && t.credentials === undefined)).toBe(true);
  });

  it('adds one target per member account and region, with credentials from AssumeRole', async () => {
    // Prepare
    assumeReplies();
    const p = policy({
      regions: ['us-east-1', 'eu-west-1'],
      accounts: [{ id: '111111111111' }, { id: '222222222222', roleName: 'watchdog' }],
    });

    // Act
    const targets = await resolveTargets(p, HOME, services());

    // Assess
    expect(summary(targets)).toEqual([
      ['home', 'us-east-1', 'ok'],
      ['home', 'eu-west-1', 'ok'],
      ['111111111111', 'us-east-1', 'ok'],
      ['111111111111', 'eu-west-1', 'ok'],
      ['222222222222', 'us-east-1', 'ok'],
      ['222222222222', 'eu-west-1', 'ok'],
    ]);
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: 'arn:aws:iam::111111111111:role/cost-watchdog/cost-watchdog-member',
      RoleSessionName: 'cost-watchdog',
    });
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: 'arn:aws:iam::222222222222:role/cost-watchdog/watchdog',
    });
    const provider = targets[4]?.credentials as AwsCredentialIdentityProvider;
    await expect(provider()).resolves.toMatchObject({
      accessKeyId: 'AKIA222222222222',
      sessionToken: 'token',
    });
    // Cached for the run: one AssumeRole per account, however many regions and calls.
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });

  it('asks each member account for its own enabled regions when the policy says all', async () => {
    // Prepare
    assumeReplies();
    mockClient(ec2Of())
      .on(DescribeRegionsCommand)
      .resolves(regionsReply(['us-east-1', 'opt-in-not-required']));
    mockClient(ec2Of('111111111111'))
      .on(DescribeRegionsCommand)
      .resolves(regionsReply(['us-east-1', 'opt-in-not-required'], ['eu-south-1', 'opted-in']));

    // Act
    const targets = await resolveTargets(policy({ accounts: [{ id: '111111111111' }] }), HOME, services());

    // Assess
    expect(summary(targets)).toEqual([
      ['home', 'us-east-1', 'ok'],
      ['111111111111', 'eu-south-1', 'ok'],
      ['111111111111', 'us-east-1', 'ok'],
    ]);
  });

  it('reports an account whose role cannot be assumed as one failed target and keeps the others', async () => {
    // Prepare
    assumeReplies(['111111111111']);
    const p = policy({ regions: ['us-east-1'], accounts: [{ id: '111111111111' }, { id: '222222222222' }] });

    // Act
    const targets = await resolveTargets(p, HOME, services());

    // Assess
    expect(summary(targets)).toEqual([
      ['home', 'us-east-1', 'ok'],
      ['111111111111', '-', 'sts:AssumeRole'],
      ['222222222222', 'us-east-1', 'ok'],
    ]);
    expect(targets[1]?.unavailable?.message).toMatch(/AccessDenied: .*not authorized/);
  });

  it('sweeps every active organization account except its own, with the member role name', async () => {
    // Prepare
    assumeReplies();
    orgs.on(ListAccountsCommand).resolvesOnce({
      Accounts: [
        { Id: SELF, State: 'ACTIVE' },
        { Id: '111111111111', State: 'ACTIVE' },
        { Id: '333333333333', State: 'SUSPENDED' },
      ],
      NextToken: 'page2',
    });
    orgs
      .on(ListAccountsCommand, { NextToken: 'page2' })
      .resolves({ Accounts: [{ Id: '222222222222', Status: 'ACTIVE' }] });
    const p = policy({
      regions: ['us-east-1'],
      organization: true,
      memberRoleName: 'org-watchdog',
      accounts: [{ id: '222222222222', roleName: 'special' }],
    });

    // Act
    const targets = await resolveTargets(p, HOME, services());

    // Assess
    expect(summary(targets)).toEqual([
      ['home', 'us-east-1', 'ok'],
      ['222222222222', 'us-east-1', 'ok'],
      ['111111111111', 'us-east-1', 'ok'],
    ]);
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: 'arn:aws:iam::111111111111:role/cost-watchdog/org-watchdog',
    });
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: 'arn:aws:iam::222222222222:role/cost-watchdog/special',
    });
  });

  it('still sweeps the listed accounts when the organization cannot be listed', async () => {
    // Prepare
    assumeReplies();
    orgs
      .on(ListAccountsCommand)
      .rejects(
        Object.assign(new Error('not in an organization'), { name: 'AWSOrganizationsNotInUseException' }),
      );
    const p = policy({ regions: ['us-east-1'], organization: true, accounts: [{ id: '111111111111' }] });

    // Act
    const targets = await resolveTargets(p, HOME, services());

    // Assess
    expect(summary(targets)).toEqual([
      ['home', 'us-east-1', 'ok'],
      ['home', '-', 'organizations:ListAccounts'],
      ['111111111111', 'us-east-1', 'ok'],
    ]);
  });

  it('refuses member accounts when the services cannot assume roles, naming the fix', async () => {
    // Prepare
    const p = policy({ regions: ['us-east-1'], accounts: [{ id: '111111111111' }] });

    // Act
    const run = resolveTargets(p, HOME, services(false));

    // Assess
    await expect(run).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('runSweep over several accounts', () => {
  it('reports an unreachable account as a failed scope while the other targets are swept', async () => {
    // Prepare
    const fleet = new InMemoryFleet();
    fleet.add({ instance: makeInstance({ region: 'us-east-1' }), state: 'running', stopProtected: false });
    const targets: AwsTarget[] = [
      { region: 'us-east-1' },
      {
        region: '-',
        account: '111111111111',
        unavailable: { operation: 'sts:AssumeRole', message: 'AccessDenied: no' },
      },
    ];

    // Act
    const report = await runSweep({
      policy: policy({}),
      now: NOW,
      dryRun: true,
      targets,
      services: fleet.services(),
    });

    // Assess
    expect(report.scopes).toEqual([
      { region: 'us-east-1', instances: 1, ok: true, metricsApi: 'GetMetricStatistics' },
      {
        region: '-',
        account: '111111111111',
        instances: 0,
        ok: false,
        error: 'sts:AssumeRole: AccessDenied: no',
      },
    ]);
    expect(report.errors).toEqual([
      { region: '-', account: '111111111111', operation: 'sts:AssumeRole', message: 'AccessDenied: no' },
    ]);
    expect(report.instancesSeen).toBe(1);
  });
});
