import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
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
  AddUserToGroupCommand,
  AttachGroupPolicyCommand,
  CreateGroupCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeletePolicyVersionCommand,
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  IAMClient,
  ListAttachedGroupPoliciesCommand,
  ListGroupsForUserCommand,
  ListPolicyVersionsCommand,
  PutGroupPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  GetParameterCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { IamAdapter } from '../../src/aws/provisioning/iam.js';
import { ProvisionEc2 } from '../../src/aws/provisioning/provision-ec2.js';
import { OwnerSubscriptions } from '../../src/aws/provisioning/sns-subscriptions.js';
import { ParameterStore } from '../../src/aws/provisioning/ssm.js';
import { guardrailPolicies } from '../../src/core/provisioning/guardrail.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { parseProvisionEvent } from '../../src/core/provisioning/event.js';
import { deprovisionUser } from '../../src/jobs/provisioning/deprovision.js';
import { ensureGuardrailGroup } from '../../src/jobs/provisioning/guardrail-group-step.js';
import { generatePassword } from '../../src/jobs/provisioning/iam-user-steps.js';
import { templateFingerprint } from '../../src/jobs/provisioning/launch-template-step.js';
import { wantedIngress } from '../../src/jobs/provisioning/network-steps.js';
import { type ProvisionSetup, provisionUser } from '../../src/jobs/provisioning/provision.js';
import type { ProvisionServices } from '../../src/jobs/provisioning/services.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:us-east-1:111122223333:cost-watchdog-prod-alerts';

const awsError = (name: string) => Object.assign(new Error(`${name} (mock)`), { name });

function services(withTopic = true): ProvisionServices {
  return {
    iam: new IamAdapter(new IAMClient({ region: 'us-east-1' })),
    ec2: (region) => new ProvisionEc2(new EC2Client({ region }), region),
    ssm: () => new ParameterStore(new SSMClient({ region: 'us-east-1' })),
    ...(withTopic
      ? { subscriptions: new OwnerSubscriptions(new SNSClient({ region: 'us-east-1' }), TOPIC) }
      : {}),
  };
}

const guardrail = guardrailPolicies({
  allowedTypes: ['t3.micro'],
  allowedRegions: ['us-east-1'],
  ownerTag: 'Owner',
  exemptTag: 'cost-watchdog:exempt',
  keyParameterPrefix: '/cost-watchdog/keys/',
  maxVolumeGiB: 30,
  imageOwners: ['amazon'],
  imageIds: [],
});
const setup: ProvisionSetup = {
  allowedTypes: ['t3.micro'],
  allowedRegions: ['us-east-1'],
  maxVolumeGiB: 30,
  guardrail,
  group: { resource: 'group', name: 'cost-watchdog-users', status: 'unchanged' },
};

beforeEach(() => {
  ec2.reset();
  iam.reset();
  ssm.reset();
  sns.reset();
});

describe('provisionUser', () => {
  it('deletes the new key pair again when its private key cannot be stored, and never reports the key', async () => {
    // Prepare
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [
        {
          InstanceType: 't3.micro',
          FreeTierEligible: true,
          ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
        },
      ],
    });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ RootDeviceName: '/dev/xvda' }] });
    ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound'));
    ec2.on(CreateKeyPairCommand).resolves({ KeyPairId: 'key-1', KeyMaterial: 'SECRET-KEY-MATERIAL' });
    ec2.on(DeleteKeyPairCommand).resolves({});
    iam.on(GetUserCommand).rejects(awsError('NoSuchEntityException'));
    iam
      .on(CreateUserCommand)
      .resolves({ User: { Arn: 'arn:aws:iam::111122223333:user/cost-watchdog/alice' } as never });
    iam.on(ListGroupsForUserCommand).resolves({ Groups: [] });
    iam.on(AddUserToGroupCommand).resolves({});
    ssm
      .on(GetParameterCommand, {
        Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      })
      .resolves({ Parameter: { Value: 'ami-123' } });
    ssm.on(GetParameterCommand, { Name: '/cost-watchdog/keys/alice' }).rejects(awsError('ParameterNotFound'));
    ssm.on(PutParameterCommand).rejects(awsError('AccessDeniedException'));

    // Act
    const result = await provisionUser(
      { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' },
      setup,
      { services: services(), policy: DEFAULT_POLICY, homeRegion: 'us-east-1' },
    );

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/AccessDeniedException/);
    expect(ec2).toHaveReceivedCommandWith(DeleteKeyPairCommand, { KeyName: 'cost-watchdog-alice' });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: '/cost-watchdog/keys/alice',
      Type: 'SecureString',
      Overwrite: false,
    });
    expect(JSON.stringify(result)).not.toContain('SECRET-KEY-MATERIAL');
  });

  it('checks the type before creating anything: a type EC2 does not know fails with nothing created', async () => {
    // Prepare
    ec2.on(DescribeInstanceTypesCommand).rejects(awsError('InvalidInstanceType'));

    // Act
    const result = await provisionUser(
      { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32', instanceType: 't9.nano' },
      setup,
      { services: services(), policy: DEFAULT_POLICY, homeRegion: 'us-east-1' },
    );

    // Assess
    expect(result).toMatchObject({ status: 'failed', resources: [] });
    expect(result.error).toBe(
      'InputError: type: unknown instance type "t9.nano" in us-east-1; use e.g. t3.micro',
    );
    expect(iam).not.toHaveReceivedCommand(CreateUserCommand);
  });

  it('refuses a user name that already exists outside /cost-watchdog/', async () => {
    // Prepare
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [{ InstanceType: 't3.micro', ProcessorInfo: { SupportedArchitectures: ['x86_64'] } }],
    });
    iam
      .on(GetUserCommand)
      .resolves({ User: { Path: '/', UserName: 'admin', Arn: 'arn:aws:iam::1:user/admin' } as never });

    // Act
    const result = await provisionUser(
      { user: 'admin', email: 'admin@example.edu', cidr: '203.0.113.7/32' },
      setup,
      { services: services(), policy: DEFAULT_POLICY, homeRegion: 'us-east-1' },
    );

    // Assess
    expect(result.error).toMatch(/IAM user admin already exists with path \/, not \/cost-watchdog\//);
    expect(iam).not.toHaveReceivedCommand(AddUserToGroupCommand);
  });
});

describe('deprovisionUser', () => {
  it('reports the security group as kept (status partial) while a stopped instance still uses it', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'stopped' } }] }],
    });
    ec2.on(DescribeLaunchTemplatesCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-1', Tags: [{ Key: 'cost-watchdog:managed', Value: 'true' }] }],
    });
    ec2.on(DeleteSecurityGroupCommand).rejects(awsError('DependencyViolation'));
    ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound'));
    ssm.on(ListTagsForResourceCommand).rejects(awsError('InvalidResourceId'));
    iam.on(GetUserCommand).rejects(awsError('NoSuchEntityException'));

    // Act
    const result = await deprovisionUser('alice', {
      services: services(false),
      policy: DEFAULT_POLICY,
      region: 'us-east-1',
    });

    // Assess
    expect(result.status).toBe('partial');
    expect(result.resources.find((r) => r.resource === 'security-group')).toMatchObject({
      status: 'kept',
      detail: expect.stringContaining('still in use by i-1'),
    });
  });

  it('never deletes an SSM parameter without the managed tag', async () => {
    // Prepare
    ssm.on(ListTagsForResourceCommand).resolves({ TagList: [{ Key: 'team', Value: 'x' }] });

    // Act
    const deleting = new ParameterStore(new SSMClient({ region: 'us-east-1' })).deleteManaged(
      '/cost-watchdog/keys/alice',
    );

    // Assess
    await expect(deleting).rejects.toThrow(
      /has no cost-watchdog:managed tag: not created by cost-watchdog, left alone/,
    );
  });

  it.each(['bad name', '', '../admin'])('rejects the user name %j before any call', async (name) => {
    await expect(
      deprovisionUser(name, { services: services(), policy: DEFAULT_POLICY, region: 'us-east-1' }),
    ).rejects.toThrow(/^user: /);
    expect(ec2.calls()).toHaveLength(0);
  });
});

describe('the IAM group', () => {
  const GROUP_ARN = 'arn:aws:iam::111122223333:group/cost-watchdog/cost-watchdog-users';
  const LIMITS_ARN = 'arn:aws:iam::111122223333:policy/cost-watchdog/cost-watchdog-launch-limits';
  const adapter = () => new IamAdapter(new IAMClient({ region: 'us-east-1' }));
  const ensure = async (mode: 'apply' | 'plan' = 'apply') =>
    (await ensureGuardrailGroup({ iam: adapter() }, guardrail, mode, 'guardrail')).status;
  /** The group as the last run left it: both documents in place, the managed one attached. */
  function groupInPlace(limitsDocument = guardrail.launchLimits): void {
    iam
      .on(GetGroupCommand)
      .resolves({ Group: { Path: '/cost-watchdog/', Arn: GROUP_ARN } as never, Users: [] });
    iam
      .on(GetGroupPolicyCommand)
      .resolves({ PolicyDocument: encodeURIComponent(JSON.stringify(guardrail.inline)) } as never);
    iam.on(GetPolicyCommand).resolves({ Policy: { Arn: LIMITS_ARN, DefaultVersionId: 'v5' } });
    iam.on(GetPolicyVersionCommand).resolves({
      PolicyVersion: { Document: encodeURIComponent(JSON.stringify(limitsDocument)), VersionId: 'v5' },
    });
    iam.on(ListAttachedGroupPoliciesCommand).resolves({
      AttachedPolicies: [{ PolicyName: 'cost-watchdog-launch-limits', PolicyArn: LIMITS_ARN }],
    });
  }

  it('leaves an identical guardrail alone, comparing the URL-encoded documents IAM returns', async () => {
    // Prepare
    groupInPlace();

    // Act
    const change = await ensure();

    // Assess
    expect(change).toBe('unchanged');
    expect(iam).not.toHaveReceivedCommand(PutGroupPolicyCommand);
    expect(iam).not.toHaveReceivedCommand(CreateGroupCommand);
    expect(iam).not.toHaveReceivedCommand(CreatePolicyCommand);
    expect(iam).not.toHaveReceivedCommand(CreatePolicyVersionCommand);
    expect(iam).not.toHaveReceivedCommand(AttachGroupPolicyCommand);
  });

  it('creates the launch limits as a managed policy under /cost-watchdog/ and attaches it to the group', async () => {
    // Prepare
    groupInPlace();
    iam.on(GetPolicyCommand).rejects(awsError('NoSuchEntityException'));
    iam.on(ListAttachedGroupPoliciesCommand).resolves({ AttachedPolicies: [] });

    // Act
    const change = await ensure();

    // Assess
    expect(change).toBe('updated');
    expect(iam).toHaveReceivedCommandWith(CreatePolicyCommand, {
      PolicyName: 'cost-watchdog-launch-limits',
      Path: '/cost-watchdog/',
      PolicyDocument: JSON.stringify(guardrail.launchLimits),
    });
    expect(iam).toHaveReceivedCommandWith(AttachGroupPolicyCommand, {
      GroupName: 'cost-watchdog-users',
      PolicyArn: LIMITS_ARN,
    });
  });

  it('writes changed launch limits as the new default version, dropping the oldest of five', async () => {
    // Prepare
    groupInPlace({ Version: '2012-10-17', Statement: [] });
    iam.on(ListPolicyVersionsCommand).resolves({
      Versions: [
        { VersionId: 'v5', IsDefaultVersion: true, CreateDate: new Date('2026-05-01') },
        { VersionId: 'v3', IsDefaultVersion: false, CreateDate: new Date('2026-03-01') },
        { VersionId: 'v1', IsDefaultVersion: false, CreateDate: new Date('2026-01-01') },
        { VersionId: 'v4', IsDefaultVersion: false, CreateDate: new Date('2026-04-01') },
        { VersionId: 'v2', IsDefaultVersion: false, CreateDate: new Date('2026-02-01') },
      ],
    });

    // Act
    const change = await ensure();

    // Assess
    expect(change).toBe('updated');
    expect(iam).toHaveReceivedCommandTimes(DeletePolicyVersionCommand, 1);
    expect(iam).toHaveReceivedCommandWith(DeletePolicyVersionCommand, {
      PolicyArn: LIMITS_ARN,
      VersionId: 'v1',
    });
    expect(iam).toHaveReceivedCommandWith(CreatePolicyVersionCommand, {
      PolicyArn: LIMITS_ARN,
      PolicyDocument: JSON.stringify(guardrail.launchLimits),
      SetAsDefault: true,
    });
    expect(iam).not.toHaveReceivedCommand(AttachGroupPolicyCommand);
  });

  it('refuses a group of the same name outside /cost-watchdog/', async () => {
    iam.on(GetGroupCommand).resolves({ Group: { Path: '/' } as never, Users: [] });
    await expect(ensure()).rejects.toThrow(/exists with path \/, not \/cost-watchdog\/; it is not ours/);
    await expect(ensure('plan')).rejects.toThrow(
      /exists with path \/, not \/cost-watchdog\/; it is not ours/,
    );
  });

  it('in a dry run, says the changed launch limits would be updated and writes nothing', async () => {
    // Prepare
    groupInPlace({ Version: '2012-10-17', Statement: [] });
    iam.on(GetGroupPolicyCommand).rejects(awsError('NoSuchEntityException'));
    iam.on(ListAttachedGroupPoliciesCommand).resolves({ AttachedPolicies: [] });

    // Act
    const planned = await ensureGuardrailGroup({ iam: adapter() }, guardrail, 'plan', 'guardrail');

    // Assess
    expect(planned).toMatchObject({ status: 'updated', planned: true });
    expect(planned.detail).toContain('rewrite the inline policy cost-watchdog-guardrail');
    expect(planned.detail).toContain('write a new default version of cost-watchdog-launch-limits');
    expect(planned.detail).toContain('attach cost-watchdog-launch-limits to the group');
    expect(iam).not.toHaveReceivedCommand(CreateGroupCommand);
    expect(iam).not.toHaveReceivedCommand(PutGroupPolicyCommand);
    expect(iam).not.toHaveReceivedCommand(CreatePolicyCommand);
    expect(iam).not.toHaveReceivedCommand(CreatePolicyVersionCommand);
    expect(iam).not.toHaveReceivedCommand(DeletePolicyVersionCommand);
    expect(iam).not.toHaveReceivedCommand(AttachGroupPolicyCommand);
  });
});

describe('owner subscriptions', () => {
  const subscriptions = () => new OwnerSubscriptions(new SNSClient({ region: 'us-east-1' }), TOPIC);

  it('subscribes a new email with the owner filter on message attributes', async () => {
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
    sns.on(SubscribeCommand).resolves({ SubscriptionArn: 'pending confirmation' });

    expect(await subscriptions().ensure('alice@example.edu', 'alice')).toBe('created');
    expect(sns).toHaveReceivedCommandWith(SubscribeCommand, {
      TopicArn: TOPIC,
      Protocol: 'email',
      Endpoint: 'alice@example.edu',
      Attributes: { FilterPolicy: '{"owner":["alice"]}', FilterPolicyScope: 'MessageAttributes' },
    });
  });

  it.each([
    ['still pending confirmation', 'PendingConfirmation', undefined, 'pending'],
    ['already filtered to the owner', `${TOPIC}:1`, '{"owner":["alice"]}', 'unchanged'],
    ["the admin's (another filter)", `${TOPIC}:1`, '{"audience":["admin"]}', 'conflict'],
    ['filtered to another owner', `${TOPIC}:1`, '{"owner":["bob"]}', 'updated'],
  ])('handles an existing subscription %s', async (_what, arn, filter, change) => {
    // Prepare
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [{ Protocol: 'email', Endpoint: 'Alice@Example.edu', SubscriptionArn: arn }],
    });
    sns.on(GetSubscriptionAttributesCommand).resolves({ Attributes: filter ? { FilterPolicy: filter } : {} });

    // Act
    const result = await subscriptions().ensure('alice@example.edu', 'alice');

    // Assess
    expect(result).toBe(change);
    expect(sns).not.toHaveReceivedCommand(SubscribeCommand);
    if (change === 'updated') {
      expect(sns).toHaveReceivedCommandWith(SetSubscriptionAttributesCommand, {
        AttributeName: 'FilterPolicy',
        AttributeValue: '{"owner":["alice"]}',
      });
    } else {
      expect(sns).not.toHaveReceivedCommand(SetSubscriptionAttributesCommand);
    }
  });
});

describe('the pieces of a baseline', () => {
  it.each([
    [{ cidr: '203.0.113.7/32' }, ['tcp 22 203.0.113.7/32']],
    [{ cidr: '2001:db8::/64', notebookPort: 8888 }, ['tcp 22 2001:db8::/64', 'tcp 8888 2001:db8::/64']],
  ])('opens SSH (and the notebook port) to exactly the given CIDR: %j', (input, rules) => {
    const wanted = wantedIngress({ user: 'a', email: 'a@b.cd', ...input });
    expect(wanted.map((r) => `${r.protocol} ${r.fromPort} ${r.cidr ?? r.cidrIpv6}`)).toEqual(rules);
  });

  it('generates console passwords of 20 characters with upper, lower, digit and symbol', () => {
    for (let i = 0; i < 50; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(20);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/\d/);
      expect(p).toMatch(/[^A-Za-z0-9]/);
    }
  });

  it('compares launch templates on what provision sets, not on order or the template tags', () => {
    const a = {
      ImageId: 'ami-1',
      SecurityGroupIds: ['sg-2', 'sg-1'],
      TagSpecifications: [{ ResourceType: 'instance' as const, Tags: [{ Key: 'Owner', Value: 'a' }] }],
    };
    const b = {
      ImageId: 'ami-1',
      SecurityGroupIds: ['sg-1', 'sg-2'],
      TagSpecifications: [
        { ResourceType: 'launch-template' as const, Tags: [{ Key: 'x', Value: 'y' }] },
        { ResourceType: 'instance' as const, Tags: [{ Key: 'Owner', Value: 'a' }] },
      ],
    };
    expect(templateFingerprint(a)).toBe(templateFingerprint(b));
    expect(templateFingerprint({ ...a, ImageId: 'ami-2' })).not.toBe(templateFingerprint(a));
  });
});

describe('the provision event', () => {
  it('accepts one user on its own or a list, failing only the bad entries', () => {
    expect(
      parseProvisionEvent({ user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' }).rows,
    ).toMatchObject([{ ok: true, user: 'alice' }]);
    const parsed = parseProvisionEvent({
      users: [
        { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' },
        { user: 'bob', email: 'bob@example.edu', cidr: '::/0' },
      ],
      consoleLogin: true,
    });
    expect(parsed.consoleLogin).toBe(true);
    expect(parsed.rows.map((r) => (r.ok ? 'ok' : r.error))).toEqual([
      'ok',
      expect.stringMatching(/^users\[1\]: cidr: ::\/0 opens SSH/),
    ]);
  });

  it('reads a deprovision request', () => {
    expect(parseProvisionEvent({ action: 'deprovision', user: 'alice', stopInstances: true })).toMatchObject({
      action: 'deprovision',
      user: 'alice',
      stopInstances: true,
    });
  });

  it.each([
    [null, /^event: must be an object/],
    [{ users: [] }, /^users: must be a non-empty list/],
    [{ action: 'terminate', user: 'alice' }, /^action: "terminate" is unknown/],
    [{ action: 'deprovision', user: 'a b' }, /^user: "a b" is not a usable user name/],
  ])('rejects %j', (event, message) => {
    expect(() => parseProvisionEvent(event)).toThrow(message);
  });
});
