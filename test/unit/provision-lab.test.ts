import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  DeleteKeyPairCommand,
  DeleteLaunchTemplateCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateGroupCommand,
  CreateUserCommand,
  GetGroupCommand,
  GetInstanceProfileCommand,
  GetUserCommand,
  IAMClient,
  PutGroupPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { IamAdapter } from '../../src/aws/provisioning/iam.js';
import { ProvisionEc2 } from '../../src/aws/provisioning/provision-ec2.js';
import { ParameterStore } from '../../src/aws/provisioning/ssm.js';
import { DEFAULT_POLICY, NAMES, type Policy } from '../../src/core/policy.js';
import { parseRoster, parseUserRequest } from '../../src/core/provisioning/roster.js';
import { DATASCIENCE_USER_DATA } from '../../src/core/provisioning/user-data-scripts.js';
import { parseProvisionEvent } from '../../src/core/provisioning/event.js';
import type { ResourceOutcome } from '../../src/core/provisioning/outcome.js';
import { deprovisionUser } from '../../src/jobs/provisioning/deprovision.js';
import { type ProvisionOptions, provisionRoster } from '../../src/jobs/provisioning/provision.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const ssm = mockClient(SSMClient);

const awsError = (name: string, message = `${name} (mock)`) => Object.assign(new Error(message), { name });
const AL2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const DLAMI =
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id';
const LAB_REASON =
  "AccessDenied on iam:CreateGroup: lab accounts forbid IAM users; students use the lab's own role";
const GPU_POLICY: Policy = {
  ...DEFAULT_POLICY,
  nonFreeTier: { ...DEFAULT_POLICY.nonFreeTier, allowedTypes: ['g4dn.xlarge'] },
};

function options(extra: Partial<ProvisionOptions> = {}): ProvisionOptions {
  return {
    services: {
      iam: new IamAdapter(new IAMClient({ region: 'us-east-1' })),
      ec2: (region) => new ProvisionEc2(new EC2Client({ region }), region),
      ssm: () => new ParameterStore(new SSMClient({ region: 'us-east-1' })),
    },
    policy: DEFAULT_POLICY,
    homeRegion: 'us-east-1',
    ...extra,
  };
}

/** An empty account: nothing provisioned yet, every create succeeds. */
function emptyAccount(): void {
  ec2.on(DescribeInstanceTypesCommand).resolves({
    InstanceTypes: [
      {
        InstanceType: 't3.micro',
        FreeTierEligible: true,
        MemoryInfo: { SizeInMiB: 1024 },
        ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
      },
    ],
  });
  ec2.on(DescribeInstanceTypesCommand, { InstanceTypes: ['g4dn.xlarge'] as never }).resolves({
    InstanceTypes: [
      {
        InstanceType: 'g4dn.xlarge',
        FreeTierEligible: false,
        ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
        GpuInfo: { Gpus: [{ Name: 'T4', Manufacturer: 'NVIDIA', Count: 1 }] },
      },
    ],
  });
  ec2.on(DescribeImagesCommand).resolves({
    Images: [
      {
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      },
    ],
  });
  ec2.on(DescribeImagesCommand, { ImageIds: ['ami-dlami'] }).resolves({
    Images: [
      {
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 75 } }],
      },
    ],
  });
  ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound'));
  ec2.on(CreateKeyPairCommand).resolves({ KeyPairId: 'key-1', KeyMaterial: 'PRIVATE' });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-1' });
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2.on(DescribeLaunchTemplatesCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));
  ec2.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-1' } });
  ssm.on(GetParameterCommand, { Name: AL2023 }).resolves({ Parameter: { Value: 'ami-al2023' } });
  ssm.on(GetParameterCommand, { Name: DLAMI }).resolves({ Parameter: { Value: 'ami-dlami' } });
  ssm.on(GetParameterCommand, { Name: '/cost-watchdog/keys/alice' }).rejects(awsError('ParameterNotFound'));
  ssm.on(PutParameterCommand).resolves({});
}

/** IAM as in AWS Academy Learner Lab: reads work, nothing may be created. */
function labIam(): void {
  iam.on(GetGroupCommand).rejects(awsError('NoSuchEntityException'));
  iam.on(GetUserCommand).rejects(awsError('NoSuchEntityException'));
  iam
    .on(CreateGroupCommand)
    .rejects(
      awsError(
        'AccessDenied',
        'User: arn:aws:sts::123456789012:assumed-role/voclabs/user1 is not authorized to perform: iam:CreateGroup',
      ),
    );
}

const ALICE = parseUserRequest({ user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' });
const rows = (request = ALICE) => [{ line: 1, user: request.user, ok: true as const, request }];
const outcome = (r: { resources: ResourceOutcome[] } | undefined, resource: string) =>
  r?.resources.find((o) => o.resource === resource);
const templateData = () => ec2.commandCalls(CreateLaunchTemplateCommand)[0]?.args[0].input.LaunchTemplateData;

beforeEach(() => {
  ec2.reset();
  iam.reset();
  ssm.reset();
});

describe('provision in a lab account (IAM users and groups forbidden)', () => {
  it('skips IAM when CreateGroup is denied, says why, and still does the key pair, group and template', async () => {
    // Prepare
    emptyAccount();
    labIam();

    // Act
    const { setup, results } = await provisionRoster(rows(), options({ consoleLogin: true }));

    // Assess
    expect(setup.iamSkipped).toBe(LAB_REASON);
    expect(setup.group).toMatchObject({ status: 'skipped', detail: LAB_REASON });
    const [alice] = results;
    expect(alice).toMatchObject({ user: 'alice', status: 'created', launchTemplateId: 'lt-1' });
    expect(outcome(alice, 'user')).toEqual({
      resource: 'user',
      name: 'alice',
      status: 'skipped',
      detail: `IAM user and group: ${LAB_REASON}`,
    });
    expect(outcome(alice, 'console-password')?.status).toBe('skipped');
    expect(outcome(alice, 'key-pair')?.status).toBe('created');
    expect(outcome(alice, 'security-group')?.status).toBe('created');
    expect(outcome(alice, 'launch-template')?.status).toBe('created');
    expect(iam).not.toHaveReceivedCommand(CreateUserCommand);
    expect(iam).not.toHaveReceivedCommand(PutGroupPolicyCommand);
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: '/cost-watchdog/keys/alice',
      Type: 'SecureString',
    });
    expect(alice?.instructions).not.toContain('Console: sign in');
  });

  it.each([
    ['GetGroup', () => iam.on(GetGroupCommand).rejects(awsError('AccessDenied')), 'iam:GetGroup'],
    [
      'CreateGroup',
      () => {
        iam.on(GetGroupCommand).rejects(awsError('NoSuchEntityException'));
        iam.on(CreateGroupCommand).rejects(awsError('AccessDenied'));
      },
      'iam:CreateGroup',
    ],
  ])('names the denied action when IAM refuses %s', async (_, deny, action) => {
    // Prepare
    emptyAccount();
    deny();

    // Act
    const { setup } = await provisionRoster(rows(), options());

    // Assess
    expect(setup.iamSkipped).toMatch(new RegExp(`^AccessDenied on ${action}: lab accounts forbid IAM users`));
  });

  it('makes no IAM call at all with --no-iam', async () => {
    // Prepare
    emptyAccount();

    // Act
    const { setup, results } = await provisionRoster(rows(), options({ skipIam: true }));

    // Assess
    expect(iam.calls()).toHaveLength(0);
    expect(setup.iamSkipped).toMatch(/--no-iam/);
    expect(results[0]?.status).toBe('created');
    expect(outcome(results[0], 'user')?.status).toBe('skipped');
  });

  it('does not hide other IAM errors: a throttled IAM fails the run as before', async () => {
    // Prepare
    emptyAccount();
    iam.on(GetGroupCommand).rejects(awsError('Throttling'));

    // Act / Assess
    await expect(provisionRoster(rows(), options())).rejects.toThrow(/Throttling/);
  });

  it('deprovisions everything else and reports the IAM user as skipped when IAM is denied', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [] });
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound'));
    ssm.on(ListTagsForResourceCommand).rejects(awsError('InvalidResourceId'));
    iam.on(GetUserCommand).rejects(awsError('AccessDenied'));

    // Act
    const result = await deprovisionUser('alice', {
      services: options().services,
      policy: DEFAULT_POLICY,
      region: 'us-east-1',
    });

    // Assess
    expect(result.status).toBe('removed');
    expect(outcome(result, 'user')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^AccessDenied on iam:GetUser/),
    });
    expect(ec2).not.toHaveReceivedCommand(DeleteLaunchTemplateCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    expect(ssm).not.toHaveReceivedCommand(DeleteParameterCommand);
  });
});

describe('setup datascience and gpu', () => {
  it('gives the datascience launch template the first-boot script and the user the SSH tunnel', async () => {
    // Prepare
    emptyAccount();
    const request = parseUserRequest({ ...ALICE, setup: 'datascience' });

    // Act
    const { results } = await provisionRoster(rows(request), options({ skipIam: true }));

    // Assess
    const [alice] = results;
    expect(alice).toMatchObject({ status: 'created', setup: 'datascience', instanceType: 't3.micro' });
    expect(alice?.costWarning).toBeUndefined();
    const data = templateData();
    expect(data).toMatchObject({ ImageId: 'ami-al2023', InstanceType: 't3.micro' });
    expect(Buffer.from(data?.UserData ?? '', 'base64').toString('utf8')).toBe(DATASCIENCE_USER_DATA);
    expect(alice?.instructions).toContain(
      'ssh -i cost-watchdog-alice.pem -L 8888:localhost:8888 ec2-user@HOST',
    );
    expect(alice?.instructions).toContain('http://localhost:8888/lab');
    expect(outcome(alice, 'launch-template')?.detail).toContain('setup datascience');
  });

  it('gives a plain template no user data', async () => {
    // Prepare
    emptyAccount();

    // Act
    await provisionRoster(rows(), options({ skipIam: true }));

    // Assess
    expect(templateData()).not.toHaveProperty('UserData');
  });

  it('runs gpu on the Deep Learning AMI, g4dn.xlarge by default, with the volume it needs and a plain cost warning', async () => {
    // Prepare
    emptyAccount();
    const request = parseUserRequest({ ...ALICE, setup: 'gpu' });

    // Act
    const { results } = await provisionRoster(rows(request), options({ skipIam: true, policy: GPU_POLICY }));

    // Assess
    const [alice] = results;
    expect(alice).toMatchObject({ status: 'created', setup: 'gpu', instanceType: 'g4dn.xlarge' });
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: DLAMI });
    const data = templateData();
    expect(data).toMatchObject({ ImageId: 'ami-dlami', InstanceType: 'g4dn.xlarge' });
    expect(data?.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ VolumeSize: 75, Encrypted: true });
    expect(Buffer.from(data?.UserData ?? '', 'base64').toString('utf8')).toBe(DATASCIENCE_USER_DATA);
    expect(alice?.costWarning).toMatch(/^NOT FREE TIER: g4dn\.xlarge costs about \$0\.526 an hour/);
    expect(alice?.costWarning).toContain('75 GiB root volume is over the free 30 GiB');
    expect(alice?.instructions?.split('\n')[1]).toBe(alice?.costWarning);
  });

  /** The stack's GPU metrics instance profile as IAM returns it (path and role as the stack creates them). */
  const stackProfile = (path: string = NAMES.iamPath, rolePath: string = NAMES.iamPath) => ({
    InstanceProfile: {
      InstanceProfileName: NAMES.gpuMetricsRole,
      InstanceProfileId: 'AIPAEXAMPLE',
      Path: path,
      Arn: `arn:aws:iam::123456789012:instance-profile${path}${NAMES.gpuMetricsRole}`,
      CreateDate: new Date(0),
      Roles: [
        {
          RoleName: NAMES.gpuMetricsRole,
          RoleId: 'AROAEXAMPLE',
          Path: rolePath,
          Arn: `arn:aws:iam::123456789012:role${rolePath}${NAMES.gpuMetricsRole}`,
          CreateDate: new Date(0),
        },
      ],
    },
  });

  it("names the stack's GPU metrics instance profile in a gpu template, and says so", async () => {
    // Prepare
    emptyAccount();
    iam.on(GetInstanceProfileCommand, { InstanceProfileName: NAMES.gpuMetricsRole }).resolves(stackProfile());
    const request = parseUserRequest({ ...ALICE, setup: 'gpu' });

    // Act
    const { results } = await provisionRoster(rows(request), options({ skipIam: true, policy: GPU_POLICY }));

    // Assess
    const [alice] = results;
    expect(alice?.status).toBe('created');
    expect(templateData()?.IamInstanceProfile).toEqual({ Name: 'cost-watchdog-gpu-metrics' });
    expect(outcome(alice, 'launch-template')?.detail).toMatch(
      /, GPU metrics role cost-watchdog-gpu-metrics$/,
    );
    expect(outcome(alice, 'launch-template')?.detail).not.toContain('GPU not measured');
  });

  it.each([
    [
      'there is no such instance profile (a stack deployed with --param roleArn)',
      () => iam.on(GetInstanceProfileCommand).rejects(awsError('NoSuchEntityException')),
      'GPU not measured: no instance profile cost-watchdog-gpu-metrics in this account (the stack creates it; not with --param roleArn)',
    ],
    [
      'provision may not read it (AccessDenied)',
      () =>
        iam
          .on(GetInstanceProfileCommand)
          .rejects(awsError('AccessDenied', 'not authorized to perform: iam:GetInstanceProfile')),
      'GPU not measured: instance profile cost-watchdog-gpu-metrics cannot be read (AccessDenied on iam:GetInstanceProfile)',
    ],
    [
      "one of that name is not the stack's (another path)",
      () => iam.on(GetInstanceProfileCommand).resolves(stackProfile('/')),
      'GPU not measured: instance profile cost-watchdog-gpu-metrics is not the stack\'s (path "/", roles "arn:aws:iam::123456789012:role/cost-watchdog/cost-watchdog-gpu-metrics")',
    ],
    [
      'it holds a role the guardrail does not let students pass',
      () => iam.on(GetInstanceProfileCommand).resolves(stackProfile(NAMES.iamPath, '/')),
      'roles "arn:aws:iam::123456789012:role/cost-watchdog-gpu-metrics"): students may pass only the role /cost-watchdog/cost-watchdog-gpu-metrics; delete that instance profile and deploy the stack',
    ],
  ])(
    'makes the gpu template without an instance profile when %s, and the plan says why',
    async (_, iamSays, why) => {
      // Prepare
      emptyAccount();
      iamSays();
      const request = parseUserRequest({ ...ALICE, setup: 'gpu' });

      // Act
      const { results } = await provisionRoster(
        rows(request),
        options({ skipIam: true, policy: GPU_POLICY }),
      );

      // Assess
      const [alice] = results;
      expect(alice?.status).toBe('created');
      expect(iam).toHaveReceivedCommandWith(GetInstanceProfileCommand, {
        InstanceProfileName: NAMES.gpuMetricsRole,
      });
      expect(templateData()).not.toHaveProperty('IamInstanceProfile');
      expect(templateData()).toMatchObject({ InstanceType: 'g4dn.xlarge' });
      expect(outcome(alice, 'launch-template')?.detail).toContain(why);
    },
  );

  it.each(['none', 'datascience'] as const)(
    'never looks for the instance profile for setup %s, and its template names none',
    async (setup) => {
      // Prepare
      emptyAccount();
      iam.on(GetInstanceProfileCommand).resolves(stackProfile());
      const request = parseUserRequest({ ...ALICE, setup });

      // Act
      const { results } = await provisionRoster(rows(request), options({ skipIam: true }));

      // Assess
      expect(results[0]?.status).toBe('created');
      expect(iam).not.toHaveReceivedCommand(GetInstanceProfileCommand);
      expect(templateData()).not.toHaveProperty('IamInstanceProfile');
      expect(outcome(results[0], 'launch-template')?.detail).not.toMatch(/GPU/);
    },
  );

  it.each([
    [
      'a type without a GPU',
      { type: 't3.micro' },
      DEFAULT_POLICY,
      /t3\.micro has no GPU, but setup gpu needs one/,
    ],
    [
      'a GPU type the policy does not allow',
      {},
      DEFAULT_POLICY,
      /g4dn\.xlarge is not allowed \(allowed: t3\.micro\); add it to nonFreeTier\.allowedTypes/,
    ],
  ])('refuses gpu with %s before creating anything', async (_, extra, policy, message) => {
    // Prepare
    emptyAccount();
    const request = parseUserRequest({ ...ALICE, ...extra, setup: 'gpu' });

    // Act
    const { results } = await provisionRoster(rows(request), options({ skipIam: true, policy }));

    // Assess
    expect(results[0]?.status).toBe('failed');
    expect(results[0]?.error).toMatch(message);
    expect(ec2).not.toHaveReceivedCommand(CreateKeyPairCommand);
  });
});

describe('the inputs', () => {
  it('reads a setup column in a roster', () => {
    const parsed = parseRoster(
      'user,email,cidr,setup\nalice,alice@example.edu,203.0.113.7/32,datascience\nbob,bob@example.edu,198.51.100.0/24,\ncarol,carol@example.edu,198.51.100.0/24,pytorch\n',
    );
    expect(parsed.map((r) => (r.ok ? (r.request.setup ?? 'none') : r.error))).toEqual([
      'datascience',
      'none',
      'line 4: setup: "pytorch" is not a setup; use one of none, datascience, gpu (datascience: Python and JupyterLab on first boot; gpu: the same on the Deep Learning AMI, not free tier)',
    ]);
  });

  it('reads "iam": false and per-user setups from the handler event', () => {
    const parsed = parseProvisionEvent({
      iam: false,
      users: [{ user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32', setup: 'gpu' }],
    });
    expect(parsed.skipIam).toBe(true);
    expect(parsed.rows[0]).toMatchObject({ ok: true, request: { setup: 'gpu' } });
    expect(parseProvisionEvent({ action: 'deprovision', user: 'alice', iam: false }).skipIam).toBe(true);
  });

  it('refuses an "iam" that is not true or false', () => {
    expect(() => parseProvisionEvent({ iam: 'no', user: 'alice' })).toThrow('iam: must be true or false');
  });
});
