/**
 * Dry runs with every AWS call mocked: provision and deprovision only read (Get / List / Describe), whatever the
 * account looks like, and still say per resource what a real run would do. The emulator tests
 * (test/emulator/provision-dry-run.test.ts) list a whole account before and after.
 */
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  GetGroupCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListGroupsForUserCommand,
} from '@aws-sdk/client-iam';
import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { GetParameterCommand, ListTagsForResourceCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { IamAdapter } from '../../src/aws/provisioning/iam.js';
import { ProvisionEc2 } from '../../src/aws/provisioning/provision-ec2.js';
import { OwnerSubscriptions } from '../../src/aws/provisioning/sns-subscriptions.js';
import { ParameterStore } from '../../src/aws/provisioning/ssm.js';
import { InputError } from '../../src/core/errors.js';
import { parseProvisionEvent } from '../../src/core/provisioning/event.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { parseUserRequest } from '../../src/core/provisioning/roster.js';
import { deprovisionUser } from '../../src/jobs/provisioning/deprovision.js';
import { provisionRoster } from '../../src/jobs/provisioning/provision.js';
import type { ProvisionServices } from '../../src/jobs/provisioning/services.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:us-east-1:111122223333:cost-watchdog-prod-alerts';
const MANAGED = [{ Key: 'cost-watchdog:managed', Value: 'true' }];
const awsError = (name: string) => Object.assign(new Error(`${name} (mock)`), { name });

function services(): ProvisionServices {
  return {
    iam: new IamAdapter(new IAMClient({ region: 'us-east-1' })),
    ec2: (region) => new ProvisionEc2(new EC2Client({ region }), region),
    ssm: () => new ParameterStore(new SSMClient({ region: 'us-east-1' })),
    subscriptions: new OwnerSubscriptions(new SNSClient({ region: 'us-east-1' }), TOPIC),
  };
}

/** The name of every command sent to any client. */
function commandsSent(): string[] {
  return [...ec2.calls(), ...iam.calls(), ...ssm.calls(), ...sns.calls()].map(
    (call) => (call.args[0] as object).constructor.name,
  );
}

const READ_ONLY = /^(Get|List|Describe)\w*Command$/;

beforeEach(() => {
  for (const client of [ec2, iam, ssm, sns]) client.reset();
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
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ RootDeviceName: '/dev/xvda' }] });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-al2023' } });
  sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
});

describe('a dry run of provision', () => {
  it('only reads a fresh account (no group, no default VPC) and plans every resource as created', async () => {
    // Prepare
    iam.on(GetGroupCommand).rejects(awsError('NoSuchEntityException'));
    iam.on(GetUserCommand).rejects(awsError('NoSuchEntityException'));
    ec2.on(DescribeKeyPairsCommand).rejects(awsError('InvalidKeyPair.NotFound'));
    ec2.on(DescribeLaunchTemplatesCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));
    ssm.on(GetParameterCommand, { Name: '/cost-watchdog/keys/alice' }).rejects(awsError('ParameterNotFound'));
    const request = parseUserRequest({ user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' });

    // Act
    const { setup, results } = await provisionRoster([{ line: 1, user: 'alice', ok: true, request }], {
      services: services(),
      policy: DEFAULT_POLICY,
      homeRegion: 'us-east-1',
      consoleLogin: true,
      accessKey: true,
      dryRun: true,
    });

    // Assess
    expect(commandsSent().filter((c) => !READ_ONLY.test(c))).toEqual([]);
    expect(commandsSent().length).toBeGreaterThan(5);
    expect(setup.group).toMatchObject({ status: 'created', planned: true });
    const [alice] = results;
    expect(alice).toMatchObject({ status: 'created', dryRun: true });
    expect(alice?.resources.map((r) => [r.resource, r.status, r.planned])).toEqual([
      ['user', 'created', true],
      ['group-membership', 'created', true],
      ['console-password', 'created', true],
      ['access-key', 'created', true],
      ['key-pair', 'created', true],
      ['default-vpc', 'created', true],
      ['security-group', 'created', true],
      ['launch-template', 'created', true],
      ['subscription', 'created', true],
    ]);
    // A user that does not exist yet is not asked about (ListGroupsForUser would fail for it).
    expect(iam).not.toHaveReceivedCommand(ListGroupsForUserCommand);
    expect(alice?.access).toEqual({ kind: 'iam', consolePassword: true, accessKey: true });
  });
});

describe('a dry run of deprovision', () => {
  it('only reads, and plans the stop of running instances and the deletion of every managed resource', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-1', State: { Name: 'running' }, SecurityGroups: [{ GroupId: 'sg-1' }] },
            { InstanceId: 'i-2', State: { Name: 'stopped' }, SecurityGroups: [{ GroupId: 'sg-9' }] },
          ],
        },
      ],
    });
    ec2
      .on(DescribeLaunchTemplatesCommand)
      .resolves({ LaunchTemplates: [{ LaunchTemplateId: 'lt-1', Tags: MANAGED }] });
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', Tags: MANAGED }] });
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', Tags: MANAGED }] });
    ssm.on(ListTagsForResourceCommand).resolves({ TagList: MANAGED });
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [{ Protocol: 'email', Endpoint: 'alice@example.edu', SubscriptionArn: `${TOPIC}:1` }],
    });
    sns
      .on(GetSubscriptionAttributesCommand)
      .resolves({ Attributes: { FilterPolicy: '{"owner":["alice"]}' } });
    iam.on(GetUserCommand).resolves({ User: { Path: '/cost-watchdog/' } as never });
    iam.on(GetLoginProfileCommand).resolves({});
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [{ AccessKeyId: 'AKIA1' }] });
    iam.on(ListGroupsForUserCommand).resolves({ Groups: [{ GroupName: 'cost-watchdog-users' } as never] });

    // Act
    const result = await deprovisionUser('alice', {
      services: services(),
      policy: DEFAULT_POLICY,
      region: 'us-east-1',
      stopInstances: true,
      dryRun: true,
    });

    // Assess
    expect(commandsSent().filter((c) => !READ_ONLY.test(c))).toEqual([]);
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ status: 'partial', dryRun: true });
    expect(result.resources.map((r) => [r.resource, r.status, r.detail])).toEqual([
      ['instances', 'updated', 'stop them (never terminate)'],
      ['subscription', 'deleted', undefined],
      ['launch-template', 'deleted', undefined],
      // The stopped instance i-2 uses another group: only i-1 (stopped, not terminated) keeps sg-1 in use.
      [
        'security-group',
        'kept',
        'still in use by i-1; run deprovision again once they are gone (they are never terminated here)',
      ],
      ['key-pair', 'deleted', undefined],
      ['key-pair', 'deleted', undefined],
      ['console-password', 'deleted', undefined],
      ['access-key', 'deleted', undefined],
      ['user', 'deleted', 'with its console password, access key AKIA1, membership of cost-watchdog-users'],
    ]);
    expect(result.resources.every((r) => r.planned === true)).toBe(true);
  });
});

describe('the dryRun flag of the provision event', () => {
  it('is read for provision and deprovision alike, and is false unless given', () => {
    const alice = { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' };
    expect(parseProvisionEvent({ users: [alice], dryRun: true }).dryRun).toBe(true);
    expect(parseProvisionEvent({ ...alice, dryRun: true }).rows).toMatchObject([{ ok: true, user: 'alice' }]);
    expect(parseProvisionEvent({ action: 'deprovision', user: 'alice', dryRun: true }).dryRun).toBe(true);
    expect(parseProvisionEvent({ users: [alice] }).dryRun).toBe(false);
  });

  it('refuses a dryRun that is not true or false, quoting it', () => {
    expect(() => parseProvisionEvent({ action: 'deprovision', user: 'alice', dryRun: 'yes' })).toThrow(
      InputError,
    );
    expect(() => parseProvisionEvent({ action: 'deprovision', user: 'alice', dryRun: 'yes' })).toThrow(
      /^dryRun: must be true or false \(true: change nothing and return the plan\), not "yes"$/,
    );
  });
});
