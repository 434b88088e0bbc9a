import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeLaunchTemplateVersionsCommand, DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { beforeEach, describe, expect, it } from 'vitest';
import { ParameterStore, deepLearningParameter } from '../../src/aws/provisioning/ssm.js';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../../src/aws/clients.js';
import { main } from '../../src/cli/main.js';
import { NAMES } from '../../src/core/policy.js';
import { DATASCIENCE_USER_DATA } from '../../src/core/provisioning/user-data-scripts.js';
import { createProvisionHandler } from '../../src/handlers/provision.js';
import type { ProvisionResult } from '../../src/jobs/provisioning/provision.js';
import { sdkProvisionServices } from '../../src/jobs/provisioning/services.js';
import { amazonLinuxAmi, clients, createTopic, DEFAULT_REGION, resetEmulator, target } from './support.js';

const REGION = DEFAULT_REGION;
const dir = mkdtempSync(join(tmpdir(), 'cost-watchdog-setup-'));
const POLICY_FILE = join(dir, 'watchdog.yml');
// g4dn.xlarge must be allowed explicitly: it is not free tier.
writeFileSync(POLICY_FILE, 'regions: [us-east-1]\nnonFreeTier:\n  allowedTypes: [g4dn.xlarge]\n');
const ALICE = { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' };

/**
 * moto has no Deep Learning AMI parameter and refuses PutParameter under the reserved /aws/ prefix, so the gpu
 * tests answer that one name with an AMI from moto's catalogue; every other read goes to the emulator.
 */
class WithDeepLearningAmi extends ParameterStore {
  constructor(private readonly amiId: string) {
    super(new SSMClient(clientConfig(target(REGION))));
  }
  override read(name: string): Promise<string> {
    return name === deepLearningParameter('x86_64') ? Promise.resolve(this.amiId) : super.read(name);
  }
}

let topicArn: string;

async function provision(users: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  const ami = await amazonLinuxAmi(REGION);
  const services = sdkProvisionServices(target(REGION), topicArn);
  const store = new WithDeepLearningAmi(ami);
  const handler = createProvisionHandler({
    env: { ...process.env, AWS_REGION: REGION, TOPIC_ARN: topicArn, POLICY_FILE },
    services: { ...services, ssm: () => store },
    log: () => {},
  });
  const res = await handler({ users, ...extra });
  return res.results[0] as ProvisionResult;
}

async function defaultTemplateData(templateId: string) {
  const { ec2 } = clients(REGION);
  const res = await ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: templateId, Versions: ['$Default'] }),
  );
  return res.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
}

/** The GPU metrics role and instance profile as the stack creates them (resources/gpu-metrics-role.yml). */
async function deployGpuMetricsProfile(): Promise<void> {
  const { iam } = clients(REGION);
  const name = NAMES.gpuMetricsRole;
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      Path: NAMES.iamPath,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Path: NAMES.iamPath }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
}

const templateOutcome = (result: ProvisionResult) =>
  result.resources.find((r) => r.resource === 'launch-template');

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

describe('provision --setup against the emulator', () => {
  it('stores the data-science first-boot script in the launch template and changes nothing on a re-run', async () => {
    // Act
    const first = await provision([{ ...ALICE, setup: 'datascience' }]);
    const again = await provision([{ ...ALICE, setup: 'datascience' }]);

    // Assess
    expect(first).toMatchObject({ status: 'created', setup: 'datascience' });
    const data = await defaultTemplateData(first.launchTemplateId ?? '');
    expect(Buffer.from(data?.UserData ?? '', 'base64').toString('utf8')).toBe(DATASCIENCE_USER_DATA);
    expect(first.instructions).toContain(
      'ssh -i cost-watchdog-alice.pem -L 8888:localhost:8888 ec2-user@HOST',
    );
    expect(again.status).toBe('unchanged');
  });

  it('adds the script as a new template version when a plain user switches to datascience', async () => {
    // Prepare
    const plain = await provision([ALICE]);
    const before = await defaultTemplateData(plain.launchTemplateId ?? '');

    // Act
    const switched = await provision([{ ...ALICE, setup: 'datascience' }]);

    // Assess
    expect(before?.UserData).toBeUndefined();
    expect((await defaultTemplateData(plain.launchTemplateId ?? ''))?.UserData).toBeDefined();
    expect(switched.resources.find((r) => r.resource === 'launch-template')).toMatchObject({
      status: 'updated',
      detail: expect.stringMatching(/^version 2: .*setup datascience/),
    });
  });

  it('builds a gpu template on the Deep Learning AMI with g4dn.xlarge and says plainly it is not free tier', async () => {
    // Act
    const result = await provision([{ ...ALICE, setup: 'gpu' }]);

    // Assess
    expect(result).toMatchObject({ status: 'created', setup: 'gpu', instanceType: 'g4dn.xlarge' });
    const data = await defaultTemplateData(result.launchTemplateId ?? '');
    expect(data).toMatchObject({ InstanceType: 'g4dn.xlarge', ImageId: await amazonLinuxAmi(REGION) });
    expect(Buffer.from(data?.UserData ?? '', 'base64').toString('utf8')).toBe(DATASCIENCE_USER_DATA);
    expect(result.costWarning).toMatch(/^NOT FREE TIER: g4dn\.xlarge costs about \$0\.526 an hour/);
    expect(result.instructions).toContain(result.costWarning);
  });
});

describe('provision --setup gpu and the GPU metrics instance profile, against the emulator', () => {
  it("names the stack's instance profile in the gpu template so the CloudWatch agent may publish GPU use", async () => {
    // Prepare
    await deployGpuMetricsProfile();

    // Act
    const result = await provision([{ ...ALICE, setup: 'gpu' }]);
    const again = await provision([{ ...ALICE, setup: 'gpu' }]);

    // Assess
    expect(result.status).toBe('created');
    const data = await defaultTemplateData(result.launchTemplateId ?? '');
    expect(data?.IamInstanceProfile).toEqual({ Name: NAMES.gpuMetricsRole });
    expect(templateOutcome(result)?.detail).toMatch(/, GPU metrics role cost-watchdog-gpu-metrics$/);
    expect(again.status).toBe('unchanged');
  });

  it('makes the gpu template without a profile where the stack has none, says the GPU is not measured, and adds it once the stack has it', async () => {
    // Act
    const without = await provision([{ ...ALICE, setup: 'gpu' }]);
    const before = await defaultTemplateData(without.launchTemplateId ?? '');
    await deployGpuMetricsProfile();
    const withProfile = await provision([{ ...ALICE, setup: 'gpu' }]);

    // Assess
    expect(without.status).toBe('created');
    expect(before).not.toHaveProperty('IamInstanceProfile');
    expect(before).toMatchObject({ InstanceType: 'g4dn.xlarge' });
    expect(templateOutcome(without)?.detail).toContain(
      'GPU not measured: no instance profile cost-watchdog-gpu-metrics in this account (the stack creates it; not with --param roleArn)',
    );
    expect(templateOutcome(withProfile)).toMatchObject({
      status: 'updated',
      detail: expect.stringMatching(/^version 2: .*GPU metrics role cost-watchdog-gpu-metrics$/),
    });
    expect((await defaultTemplateData(without.launchTemplateId ?? ''))?.IamInstanceProfile).toEqual({
      Name: NAMES.gpuMetricsRole,
    });
  });

  it('leaves the profile out of a datascience template even where the stack has it', async () => {
    // Prepare
    await deployGpuMetricsProfile();

    // Act
    const result = await provision([{ ...ALICE, setup: 'datascience' }]);

    // Assess
    const data = await defaultTemplateData(result.launchTemplateId ?? '');
    expect(data).not.toHaveProperty('IamInstanceProfile');
    expect(templateOutcome(result)?.detail).not.toMatch(/GPU/);
  });
});

describe('provision --no-iam (lab accounts) against the emulator', () => {
  it('creates no IAM user or group, does everything else, and says what it skipped', async () => {
    // Prepare
    const out: string[] = [];
    const io = {
      out: (t: string) => out.push(t),
      err: () => {},
      env: { ...process.env, AWS_REGION: REGION },
    };
    const { iam, ec2 } = clients(REGION);

    // Act
    const code = await main(
      [
        'provision',
        '--no-iam',
        '--setup',
        'datascience',
        '--user',
        'alice',
        '--email',
        'alice@example.edu',
        '--cidr',
        '203.0.113.7/32',
        '--topic-arn',
        topicArn,
        '--policy',
        POLICY_FILE,
      ],
      io,
    );

    // Assess
    const text = out.join('\n');
    expect(code).toBe(0);
    expect(text).toContain('group cost-watchdog-users: skipped (IAM turned off for this run (--no-iam)');
    expect(text).toMatch(/user\s+skipped\s+alice: IAM user and group: IAM turned off/);
    expect(text).toMatch(/launch-template\s+created/);
    expect(text).toContain('-L 8888:localhost:8888');
    expect((await iam.send(new ListUsersCommand({}))).Users ?? []).toEqual([]);
    const keys = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['cost-watchdog-alice'] }));
    expect(keys.KeyPairs).toHaveLength(1);
  });
});
