/**
 * What provision writes for the students' guardrail: the volume limit that fits every template it makes, the
 * launch limits as a managed policy, the template's settings the guardrail pins, and the owner tag on the
 * resources the guardrail lets a student use.
 */
import {
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  AttachGroupPolicyCommand,
  CreatePolicyCommand,
  CreateUserCommand,
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetUserCommand,
  IAMClient,
  ListAttachedGroupPoliciesCommand,
  PutGroupPolicyCommand,
} from '@aws-sdk/client-iam';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { IamAdapter } from '../../src/aws/provisioning/iam.js';
import { ProvisionEc2 } from '../../src/aws/provisioning/provision-ec2.js';
import { ParameterStore } from '../../src/aws/provisioning/ssm.js';
import { ConfigError } from '../../src/core/errors.js';
import { GUARD, type PolicyDocument } from '../../src/core/provisioning/guardrail.js';
import { DEFAULT_POLICY, type Policy, TAGS } from '../../src/core/policy.js';
import { parseUserRequest } from '../../src/core/provisioning/roster.js';
import { launchTemplateData, templateFingerprint } from '../../src/jobs/provisioning/launch-template-step.js';
import {
  type ProvisionOptions,
  prepareProvision,
  provisionUser,
} from '../../src/jobs/provisioning/provision.js';
import { plainPlan } from '../support/classroom.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const ssm = mockClient(SSMClient);

const awsError = (name: string) => Object.assign(new Error(`${name} (mock)`), { name });
const AL2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const DLAMI =
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id';
const GROUP_ARN = 'arn:aws:iam::111122223333:group/cost-watchdog/cost-watchdog-users';
const GPU_POLICY: Policy = {
  ...DEFAULT_POLICY,
  regions: ['us-east-1'],
  nonFreeTier: { ...DEFAULT_POLICY.nonFreeTier, allowedTypes: ['g4dn.xlarge'] },
};
const ALICE = { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' };

function options(policy: Policy = GPU_POLICY): ProvisionOptions {
  return {
    services: {
      iam: new IamAdapter(new IAMClient({ region: 'us-east-1' })),
      ec2: (region) => new ProvisionEc2(new EC2Client({ region }), region),
      ssm: () => new ParameterStore(new SSMClient({ region: 'us-east-1' })),
    },
    policy,
    homeRegion: 'us-east-1',
  };
}

/** EC2 and SSM: t3.micro (free, burstable), g4dn.xlarge (one GPU), AL2023 (8 GiB root), the DLAMI (75 GiB). */
function account(): void {
  ec2.on(DescribeInstanceTypesCommand).resolves({
    InstanceTypes: [
      {
        InstanceType: 't3.micro',
        FreeTierEligible: true,
        BurstablePerformanceSupported: true,
        ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
      },
    ],
  });
  ec2.on(DescribeInstanceTypesCommand, { InstanceTypes: ['g4dn.xlarge'] as never }).resolves({
    InstanceTypes: [
      {
        InstanceType: 'g4dn.xlarge',
        FreeTierEligible: false,
        BurstablePerformanceSupported: false,
        ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
        GpuInfo: { Gpus: [{ Name: 'T4', Manufacturer: 'NVIDIA', Count: 1 }] },
      },
    ],
  });
  const image = (size: number) => ({
    Images: [
      {
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: size } }],
      },
    ],
  });
  ec2.on(DescribeImagesCommand).resolves(image(8));
  ec2.on(DescribeImagesCommand, { ImageIds: ['ami-dlami'] }).resolves(image(75));
  ssm.on(GetParameterCommand, { Name: AL2023 }).resolves({ Parameter: { Value: 'ami-al2023' } });
  ssm.on(GetParameterCommand, { Name: DLAMI }).resolves({ Parameter: { Value: 'ami-dlami' } });
}

/** IAM for a first run: no group policy, no managed policy yet; every write succeeds. */
function freshIam(): void {
  iam
    .on(GetGroupCommand)
    .resolves({ Group: { Path: '/cost-watchdog/', Arn: GROUP_ARN } as never, Users: [] });
  iam.on(GetGroupPolicyCommand).rejects(awsError('NoSuchEntityException'));
  iam.on(PutGroupPolicyCommand).resolves({});
  iam.on(GetPolicyCommand).rejects(awsError('NoSuchEntityException'));
  iam.on(CreatePolicyCommand).resolves({});
  iam.on(ListAttachedGroupPoliciesCommand).resolves({ AttachedPolicies: [] });
  iam.on(AttachGroupPolicyCommand).resolves({});
}

const volumeLimit = (document: PolicyDocument) =>
  document.Statement.find((s) => s.Sid === GUARD.largeVolumes)?.Condition?.NumericGreaterThan?.[
    'ec2:VolumeSize'
  ];

beforeEach(() => {
  ec2.reset();
  iam.reset();
  ssm.reset();
});

describe('the volume limit of the guardrail', () => {
  it("is raised to the Deep Learning AMI's root when a GPU type is allowed, so gpu templates stay launchable", async () => {
    // Prepare
    account();
    freshIam();

    // Act
    const setup = await prepareProvision(options());

    // Assess
    expect(setup.maxVolumeGiB).toBe(75);
    expect(volumeLimit(setup.guardrail.launchLimits)).toBe('75');
    expect(setup.group.detail).toContain('volumes up to 75 GiB');
    const written = iam.commandCalls(CreatePolicyCommand)[0]?.args[0].input;
    expect(written).toMatchObject({ PolicyName: 'cost-watchdog-launch-limits', Path: '/cost-watchdog/' });
    expect(volumeLimit(JSON.parse(written?.PolicyDocument ?? '{}'))).toBe('75');
    expect(iam).toHaveReceivedCommandWith(AttachGroupPolicyCommand, { GroupName: 'cost-watchdog-users' });
  });

  it("is the policy's guardrail.maxVolumeGiB (default the free 30 GiB) when no GPU type is allowed", async () => {
    // Prepare
    account();
    freshIam();

    // Act
    const setup = await prepareProvision(options({ ...DEFAULT_POLICY, regions: ['us-east-1'] }));

    // Assess
    expect(setup.maxVolumeGiB).toBe(30);
    expect(ssm).not.toHaveReceivedCommandWith(GetParameterCommand, { Name: DLAMI });
  });

  it('is never lowered below the policy setting', async () => {
    // Prepare
    account();
    freshIam();
    const policy = { ...GPU_POLICY, guardrail: { ...GPU_POLICY.guardrail, maxVolumeGiB: 100 } };

    // Act / Assess
    expect((await prepareProvision(options(policy))).maxVolumeGiB).toBe(100);
  });

  it('refuses, before creating anything, a template the guardrail would not let the student launch', async () => {
    // Prepare
    account();
    freshIam();
    iam.on(GetUserCommand).rejects(awsError('NoSuchEntityException'));
    const setup = await prepareProvision(options());

    // Act
    const result = await provisionUser(
      parseUserRequest({ ...ALICE, setup: 'gpu' }),
      { ...setup, maxVolumeGiB: 30 },
      options(),
    );

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(
      /^InputError: setup: the launch template would get a 75 GiB root volume \(image ami-dlami in us-east-1\), over the guardrail's 30 GiB, so the student could not launch it; raise guardrail\.maxVolumeGiB in watchdog\.yml to at least 75$/,
    );
    expect(ec2).not.toHaveReceivedCommand(CreateKeyPairCommand);
    expect(iam).not.toHaveReceivedCommand(CreateUserCommand);
  });

  it('refuses a guardrail IAM would reject for its size, naming what to shorten', async () => {
    // Prepare
    account();
    freshIam();
    const imageIds = Array.from({ length: 300 }, (_, i) => `ami-${String(i).padStart(17, '0')}`);
    const policy = { ...GPU_POLICY, guardrail: { ...GPU_POLICY.guardrail, imageIds } };

    // Act / Assess
    const run = prepareProvision(options(policy));
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(
      /the guardrail policy cost-watchdog-launch-limits would be \d+ characters, over IAM's limit of 6144; shorten guardrail\.imageIds or guardrail\.imageOwners in watchdog\.yml/,
    );
    expect(iam).not.toHaveReceivedCommand(PutGroupPolicyCommand);
  });
});

describe('the launch template', () => {
  it('tags instances and volumes with the owner only: the guardrail refuses every cost-watchdog:* key', () => {
    const data = launchTemplateData(plainPlan('us-east-1'), 'alice', 'sg-1', 'Owner');
    for (const spec of data.TagSpecifications ?? []) {
      expect(spec.Tags).toEqual([{ Key: 'Owner', Value: 'alice' }]);
    }
    expect(JSON.stringify(data)).not.toContain('cost-watchdog:');
  });

  it('pins standard CPU credits on burstable types, and sets none where there are no credits', () => {
    expect(launchTemplateData(plainPlan('us-east-1'), 'alice', 'sg-1', 'Owner').CreditSpecification).toEqual({
      CpuCredits: 'standard',
    });
    const gpu = plainPlan('us-east-1', { instanceType: 'g4dn.xlarge', burstable: false });
    expect(launchTemplateData(gpu, 'alice', 'sg-1', 'Owner')).not.toHaveProperty('CreditSpecification');
  });

  it('counts the credit option and the old managed tag as changes, so a re-run repairs older templates', () => {
    const now = launchTemplateData(plainPlan('us-east-1'), 'alice', 'sg-1', 'Owner');
    const { CreditSpecification: _, ...withoutCredits } = now;
    const withOldTags = {
      ...now,
      TagSpecifications: (now.TagSpecifications ?? []).map((s) => ({
        ...s,
        Tags: [...(s.Tags ?? []), { Key: TAGS.managed, Value: 'true' }],
      })),
    };
    expect(templateFingerprint(withoutCredits)).not.toBe(templateFingerprint(now));
    expect(templateFingerprint(withOldTags)).not.toBe(templateFingerprint(now));
  });
});

describe('the owner tag on the resources a student launches with', () => {
  it('puts it back on the key pair, security group and launch template where a re-run finds it missing', async () => {
    // Prepare
    account();
    const plan = plainPlan('us-east-1', { imageId: 'ami-al2023' });
    const managedOnly = [{ Key: TAGS.managed, Value: 'true' }];
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', Tags: managedOnly }] });
    ssm
      .on(GetParameterCommand, { Name: '/cost-watchdog/keys/alice' })
      .resolves({ Parameter: { Value: 'x' } });
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: 'sg-1',
          Tags: [...managedOnly, { Key: 'Owner', Value: 'bob' }],
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '203.0.113.7/32' }] },
          ],
        },
      ],
    });
    ec2.on(DescribeLaunchTemplatesCommand).resolves({
      LaunchTemplates: [{ LaunchTemplateId: 'lt-1', Tags: managedOnly, DefaultVersionNumber: 1 }],
    });
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        { LaunchTemplateData: launchTemplateData(plan, 'alice', 'sg-1', 'Owner') as never },
      ],
    });
    ec2.on(CreateTagsCommand).resolves({});
    const setup = await prepareProvision({ ...options(DEFAULT_POLICY), skipIam: true });

    // Act
    const result = await provisionUser(parseUserRequest(ALICE), setup, options(DEFAULT_POLICY));

    // Assess
    for (const id of ['key-1', 'sg-1', 'lt-1']) {
      expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
        Resources: [id],
        Tags: [{ Key: 'Owner', Value: 'alice' }],
      });
    }
    const detail = (resource: string) => result.resources.find((r) => r.resource === resource);
    expect(detail('key-pair')).toMatchObject({
      status: 'repaired',
      detail: expect.stringMatching(/^tagged Owner=alice \(was missing\)/),
    });
    expect(detail('security-group')).toMatchObject({
      status: 'repaired',
      detail: 'tagged Owner=alice (was "bob")',
    });
    expect(detail('launch-template')).toMatchObject({
      status: 'repaired',
      detail: expect.stringMatching(/^tagged Owner=alice \(was missing\)/),
    });
    expect(ec2).not.toHaveReceivedCommand(CreateKeyPairCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateSecurityGroupCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateLaunchTemplateCommand);
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
  });
});
