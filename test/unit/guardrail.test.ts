import { describe, expect, it } from 'vitest';
import {
  evaluateRequest,
  evaluateRequests,
  guardrailPolicy,
  type PolicyDocument,
  type Verdict,
} from '../../src/core/guardrail.js';

const policy: PolicyDocument = guardrailPolicy({
  allowedTypes: ['t3.micro', 't3.small'],
  allowedRegions: ['us-east-1', 'eu-west-1'],
  ownerTag: 'Owner',
  keyParameterPrefix: '/cost-watchdog/keys/',
});

const ACCOUNT = '111122223333';
const instance = (region = 'us-east-1') => `arn:aws:ec2:${region}:${ACCOUNT}:instance/i-0123456789abcdef0`;
/** Every resource RunInstances authorizes for a launch from the user's template. */
const launchResources = (region = 'us-east-1') => [
  instance(region).replace(/i-\w+$/, '*'),
  `arn:aws:ec2:${region}:${ACCOUNT}:volume/*`,
  `arn:aws:ec2:${region}:${ACCOUNT}:network-interface/*`,
  `arn:aws:ec2:${region}:${ACCOUNT}:security-group/sg-1`,
  `arn:aws:ec2:${region}:${ACCOUNT}:subnet/subnet-1`,
  `arn:aws:ec2:${region}:${ACCOUNT}:key-pair/cost-watchdog-alice`,
  `arn:aws:ec2:${region}:${ACCOUNT}:launch-template/lt-1`,
  `arn:aws:ec2:${region}::image/ami-1`,
];

function launch(overrides: Record<string, string | undefined> = {}, region = 'us-east-1'): Verdict {
  const context: Record<string, string> = {
    'aws:username': 'alice',
    'aws:RequestedRegion': region,
    'ec2:InstanceType': 't3.micro',
    'aws:RequestTag/Owner': 'alice',
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete context[k];
    else context[k] = v;
  }
  return evaluateRequests(policy, 'ec2:RunInstances', launchResources(region), context);
}

function onInstance(action: string, owner: string | undefined, user = 'alice'): Verdict {
  return evaluateRequest(policy, {
    action,
    resource: instance(),
    context: {
      'aws:username': user,
      'aws:RequestedRegion': 'us-east-1',
      ...(owner !== undefined ? { 'aws:ResourceTag/Owner': owner } : {}),
    },
  });
}

describe('the guardrail policy of the cost-watchdog-users group', () => {
  it('allows launching an allowed type in an allowed region tagged with your own name', () => {
    expect(launch()).toBe('allow');
    expect(launch({ 'ec2:InstanceType': 't3.small' }, 'eu-west-1')).toBe('allow');
  });

  it.each([
    [
      'a type that is not allowed (t3.large)',
      { 'ec2:InstanceType': 't3.large' },
      'us-east-1',
      'explicit-deny',
    ],
    ['a GPU type', { 'ec2:InstanceType': 'p4d.24xlarge' }, 'us-east-1', 'explicit-deny'],
    ['a region that is not allowed', {}, 'ap-south-1', 'explicit-deny'],
    ['no Owner tag', { 'aws:RequestTag/Owner': undefined }, 'us-east-1', 'implicit-deny'],
    ["someone else's name in the Owner tag", { 'aws:RequestTag/Owner': 'bob' }, 'us-east-1', 'implicit-deny'],
  ])('denies RunInstances with %s', (_what, overrides, region, verdict) => {
    expect(launch(overrides, region)).toBe(verdict);
  });

  it.each([
    ['ec2:StartInstances', 'alice', 'allow'],
    ['ec2:StopInstances', 'alice', 'allow'],
    ['ec2:RebootInstances', 'alice', 'allow'],
    ['ec2:StopInstances', 'bob', 'implicit-deny'],
    ['ec2:StartInstances', 'bob', 'implicit-deny'],
    ['ec2:StopInstances', undefined, 'implicit-deny'],
    ['ec2:ModifyInstanceAttribute', 'alice', 'explicit-deny'],
    ['ec2:DeleteTags', 'alice', 'explicit-deny'],
  ])('%s on an instance tagged Owner=%s is %s for alice', (action, owner, verdict) => {
    expect(onInstance(action, owner)).toBe(verdict);
  });

  it('lets tags be written only as part of a launch, so nobody can re-tag an instance to make it theirs', () => {
    const tag = (createAction?: string) =>
      evaluateRequest(policy, {
        action: 'ec2:CreateTags',
        resource: instance(),
        context: { 'aws:username': 'alice', ...(createAction ? { 'ec2:CreateAction': createAction } : {}) },
      });
    expect(tag('RunInstances')).toBe('allow');
    expect(tag()).toBe('implicit-deny');
  });

  it.each([
    'ec2:DescribeInstances',
    'ec2:DescribeInstanceTypes',
    'ec2:DescribeLaunchTemplateVersions',
    'ec2:DescribeImages',
  ])('allows the read-only %s', (action) => {
    expect(evaluateRequest(policy, { action, resource: '*', context: { 'aws:username': 'alice' } })).toBe(
      'allow',
    );
  });

  it.each([
    ['iam:CreateUser', 'explicit-deny'],
    ['iam:AttachUserPolicy', 'explicit-deny'],
    ['iam:PutUserPolicy', 'explicit-deny'],
    ['iam:CreateAccessKey', 'explicit-deny'],
    ['iam:AddUserToGroup', 'explicit-deny'],
    ['iam:PassRole', 'explicit-deny'],
    ['iam:ListUsers', 'implicit-deny'],
  ])('denies the IAM change %s', (action, verdict) => {
    const resource = `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/alice`;
    expect(evaluateRequest(policy, { action, resource, context: { 'aws:username': 'alice' } })).toBe(verdict);
  });

  it('lets a user change only their own password (needed for the forced reset)', () => {
    const change = (user: string) =>
      evaluateRequest(policy, {
        action: 'iam:ChangePassword',
        resource: `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/${user}`,
        context: { 'aws:username': 'alice' },
      });
    expect(change('alice')).toBe('allow');
    expect(change('bob')).toBe('implicit-deny');
  });

  it("lets a user read their own private key but not someone else's", () => {
    const read = (user: string) =>
      evaluateRequest(policy, {
        action: 'ssm:GetParameter',
        resource: `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/cost-watchdog/keys/${user}`,
        context: { 'aws:username': 'alice' },
      });
    expect(read('alice')).toBe('allow');
    expect(read('bob')).toBe('implicit-deny');
    expect(read('*')).toBe('implicit-deny');
  });

  it('uses no wildcard action and never lets a student terminate anything', () => {
    const neverAllowed = 'ec2:TerminateInstances';
    for (const s of policy.Statement) {
      const actions = [s.Action ?? []].flat();
      expect(actions).not.toContain('*');
      expect(actions).not.toContain(neverAllowed);
      if (s.Effect === 'Allow') expect(actions.join(' ')).not.toMatch(/:\*$/);
    }
    expect(onInstance(neverAllowed, 'alice')).toBe('implicit-deny');
  });
});

describe('the statement evaluator', () => {
  const doc: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'A', Effect: 'Allow', Action: 's3:Get*', Resource: 'arn:aws:s3:::bucket/${aws:username}/*' },
      {
        Sid: 'B',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: '*',
        Condition: {
          'ForAllValues:StringLike': { 'aws:TagKeys': ['team-*'] },
          Bool: { 'aws:SecureTransport': 'true' },
        },
      },
      { Sid: 'C', Effect: 'Deny', NotAction: ['s3:Get*', 's3:PutObject'], Resource: '*' },
    ],
  };

  it.each<[string, string, string, Record<string, string | string[]>, Verdict]>([
    [
      'a wildcard action and a policy variable',
      's3:GetObject',
      'arn:aws:s3:::bucket/alice/x',
      { 'aws:username': 'alice' },
      'allow',
    ],
    [
      "another user's prefix",
      's3:GetObject',
      'arn:aws:s3:::bucket/bob/x',
      { 'aws:username': 'alice' },
      'implicit-deny',
    ],
    [
      'ForAllValues with matching keys',
      's3:PutObject',
      'x',
      { 'aws:TagKeys': ['team-a'], 'aws:SecureTransport': 'true' },
      'allow',
    ],
    [
      'ForAllValues with a foreign key',
      's3:PutObject',
      'x',
      { 'aws:TagKeys': ['team-a', 'cost'], 'aws:SecureTransport': 'true' },
      'implicit-deny',
    ],
    [
      'Bool false',
      's3:PutObject',
      'x',
      { 'aws:TagKeys': [], 'aws:SecureTransport': 'false' },
      'implicit-deny',
    ],
    ['NotAction in a Deny', 's3:DeleteObject', 'x', {}, 'explicit-deny'],
  ])('handles %s', (_what, action, resource, context, verdict) => {
    expect(evaluateRequest(doc, { action, resource, context })).toBe(verdict);
  });
});
