/**
 * Scale features against moto: one sweep over two regions where one region's calls fail, and one sweep over
 * the home account plus two member accounts reached through STS AssumeRole (moto keys its state by the account
 * of the assumed credentials, so each account has its own instances).
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsTarget, clientConfig } from '../../src/aws/clients.js';
import { sdkSweepServices } from '../../src/aws/services.js';
import { policySchema, TAGS } from '../../src/core/policy.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { resolveTargets } from '../../src/jobs/targets.js';
import { amazonLinuxAmi, EMULATOR_ACCOUNT, resetEmulator, seedInstances, target } from './support.js';

const HOME_REGION = 'us-east-1';
const MEMBERS = ['111111111111', '222222222222'] as const;
/** Past the 24 h free-tier uptime limit, so every seeded t3.micro draws a warning. */
const LATER_MS = 30 * 3_600_000;

beforeEach(async () => {
  await resetEmulator();
});

/** Credentials of the member role in `account`, as moto's STS issues them. */
async function memberCredentials(account: string) {
  const sts = new STSClient(clientConfig(target(HOME_REGION)));
  const res = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/cost-watchdog/cost-watchdog-member`,
      RoleSessionName: 'seed',
    }),
  );
  const c = res.Credentials;
  return {
    accessKeyId: c?.AccessKeyId ?? '',
    secretAccessKey: c?.SecretAccessKey ?? '',
    sessionToken: c?.SessionToken ?? '',
  };
}

/** EC2 in a member account (its own moto backend). */
async function memberEc2(account: string): Promise<EC2Client> {
  return new EC2Client(
    clientConfig({ ...target(HOME_REGION), credentials: await memberCredentials(account) }),
  );
}

async function launchIn(ec2: EC2Client, count: number): Promise<string[]> {
  const res = await ec2.send(
    new RunInstancesCommand({
      ImageId: await amazonLinuxAmi(HOME_REGION),
      InstanceType: 't3.micro',
      MinCount: count,
      MaxCount: count,
    }),
  );
  return (res.Instances ?? []).map((i) => i.InstanceId ?? '');
}

async function tagsOf(ec2: EC2Client, id: string): Promise<Record<string, string>> {
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const tags = res.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
  return Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? '']));
}

describe('a sweep over two regions', () => {
  it('sweeps the healthy region and reports the failing one without stopping the run', async () => {
    // Prepare: an instance in each region; eu-west-1 answers from an endpoint that refuses connections
    const [east] = (await seedInstances('us-east-1', {})) as [string];
    await seedInstances('eu-west-1', {});
    const targets: AwsTarget[] = [
      target('us-east-1'),
      { ...target('eu-west-1'), endpoint: 'http://127.0.0.1:9' },
    ];
    const now = new Date(Date.now() + LATER_MS);
    const policy = policySchema.parse({ regions: ['us-east-1', 'eu-west-1'] });

    // Act
    const report = await runSweep({ policy, now, targets, services: sdkSweepServices() });

    // Assess
    expect(report.scopes).toEqual([
      { region: 'us-east-1', instances: 1, ok: true, metricsApi: 'GetMetricStatistics' },
      { region: 'eu-west-1', instances: 0, ok: false, error: expect.any(String) },
    ]);
    expect(report.errors).toEqual([
      expect.objectContaining({ region: 'eu-west-1', operation: 'ec2:DescribeInstances' }),
    ]);
    expect(report.warned).toEqual([east]);
    const ec2 = new EC2Client(clientConfig(target('us-east-1')));
    expect((await tagsOf(ec2, east))[TAGS.warnRule]).toBe('over-uptime');
  });
});

describe('a sweep over several accounts', () => {
  it('assumes the member role in each account and sweeps each one with its own credentials', async () => {
    // Prepare: one instance at home, one in the first member account, two in the second
    const [home] = (await seedInstances(HOME_REGION, {})) as [string];
    const first = await memberEc2(MEMBERS[0]);
    const second = await memberEc2(MEMBERS[1]);
    const [a] = (await launchIn(first, 1)) as [string];
    const [b, c] = (await launchIn(second, 2)) as [string, string];
    const policy = policySchema.parse({
      regions: [HOME_REGION],
      accounts: MEMBERS.map((id) => ({ id })),
    });
    const clock = () => new Date();
    const services = sdkSweepServices(clock);
    const now = new Date(Date.now() + LATER_MS);

    // Act
    const targets = await resolveTargets(policy, target(HOME_REGION), services);
    const report = await runSweep({ policy, now, targets, services });

    // Assess: three scopes, each with its own instances, and the warning tags written in the right account
    expect(report.scopes).toEqual([
      { region: HOME_REGION, instances: 1, ok: true, metricsApi: 'GetMetricStatistics' },
      { region: HOME_REGION, account: MEMBERS[0], instances: 1, ok: true, metricsApi: 'GetMetricStatistics' },
      { region: HOME_REGION, account: MEMBERS[1], instances: 2, ok: true, metricsApi: 'GetMetricStatistics' },
    ]);
    expect(report.errors).toEqual([]);
    expect(new Map(report.decisions.map((d) => [d.instanceId, d.account ?? EMULATOR_ACCOUNT]))).toEqual(
      new Map([
        [home, EMULATOR_ACCOUNT],
        [a, MEMBERS[0]],
        [b, MEMBERS[1]],
        [c, MEMBERS[1]],
      ]),
    );
    expect(report.warned.sort()).toEqual([home, a, b, c].sort());
    expect((await tagsOf(first, a))[TAGS.warnRule]).toBe('over-uptime');
    expect((await tagsOf(second, c))[TAGS.warnRule]).toBe('over-uptime');
  });

  it("finds a member account's enabled regions with its own credentials when the policy says all", async () => {
    // Prepare
    const policy = policySchema.parse({ accounts: [{ id: MEMBERS[0] }] });

    // Act
    const targets = await resolveTargets(policy, target(HOME_REGION), sdkSweepServices());

    // Assess
    const member = targets.filter((t) => t.account === MEMBERS[0]).map((t) => t.region);
    const home = targets.filter((t) => t.account === undefined).map((t) => t.region);
    expect(member).toContain('us-east-1');
    expect(member).toEqual(home);
    expect(targets.every((t) => t.unavailable === undefined)).toBe(true);
  });
});
