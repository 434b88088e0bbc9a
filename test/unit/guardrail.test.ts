/**
 * The students' guardrail, judged by an independent IAM simulator (@cloud-copilot/iam-simulate) request by
 * request, the way AWS authorizes them. The evasions of issue #13 are in guardrail-adversarial.test.ts; the
 * commands of the student handout in handout.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { guardrailPolicies, IAM_POLICY_LIMITS, policySize } from '../../src/core/provisioning/guardrail.js';
import { CLASS_GUARDRAIL, CLASS_OPTIONS, classroom, fromOwnTemplate } from '../support/classroom.js';
import {
  ACCOUNT,
  type Authorization,
  authorize,
  authorizeAll,
  guardrailDocuments,
  type Verdict,
} from '../support/iam-simulator.js';
import {
  onInstance,
  type RunInstancesRequest,
  runInstancesAuthorizations,
  tagInstance,
} from '../support/student-requests.js';

const policies = guardrailDocuments(CLASS_GUARDRAIL);

/** alice's launch in `region`: her template's settings sent as plain parameters, with `change` on top. */
async function launch(change: RunInstancesRequest = {}, region = 'us-east-1'): Promise<Verdict> {
  const account = classroom(region);
  const request = { ...account.templates['lt-alice'], ...change };
  return (await authorizeAll(policies, runInstancesAuthorizations(account, request))).verdict;
}

const ownerTags = (owner: string) => [{ ResourceType: 'instance', Tags: [{ Key: 'Owner', Value: owner }] }];

async function onAliceInstance(action: string, owner: string | undefined): Promise<Verdict> {
  const tags = owner !== undefined ? { Owner: owner } : {};
  return (await authorize(policies, onInstance(classroom(), action, tags))).verdict;
}

async function iamCall(action: string, resource: string, context: Authorization['context'] = {}) {
  return (await authorize(policies, { action, resource, context })).verdict;
}

describe('the guardrail policy of the cost-watchdog-users group', () => {
  it('allows launching an allowed type in an allowed region tagged with your own name', async () => {
    expect(await launch()).toBe('allow');
    expect(await launch({ InstanceType: 't3.small' }, 'eu-west-1')).toBe('allow');
  });

  it.each<[string, RunInstancesRequest, string, Verdict]>([
    ['a type that is not allowed (t3.large)', { InstanceType: 't3.large' }, 'us-east-1', 'explicit-deny'],
    ['a GPU type', { InstanceType: 'p4d.24xlarge' }, 'us-east-1', 'explicit-deny'],
    ['a region that is not allowed', {}, 'ap-south-1', 'explicit-deny'],
    ['no Owner tag', { TagSpecifications: [] }, 'us-east-1', 'implicit-deny'],
    [
      "someone else's name in the Owner tag",
      { TagSpecifications: ownerTags('bob') },
      'us-east-1',
      'implicit-deny',
    ],
  ])('denies RunInstances with %s', async (_what, change, region, verdict) => {
    expect(await launch(change, region)).toBe(verdict);
  });

  it.each<[string, string | undefined, Verdict]>([
    ['ec2:StartInstances', 'alice', 'allow'],
    ['ec2:StopInstances', 'alice', 'allow'],
    ['ec2:RebootInstances', 'alice', 'allow'],
    ['ec2:StopInstances', 'bob', 'implicit-deny'],
    ['ec2:StartInstances', 'bob', 'implicit-deny'],
    ['ec2:StopInstances', undefined, 'implicit-deny'],
    ['ec2:ModifyInstanceAttribute', 'alice', 'explicit-deny'],
    ['ec2:DeleteTags', 'alice', 'explicit-deny'],
  ])('%s on an instance tagged Owner=%s is %s for alice', async (action, owner, verdict) => {
    expect(await onAliceInstance(action, owner)).toBe(verdict);
  });

  it('lets tags be written only as part of a launch, so nobody can re-tag an instance to make it theirs', async () => {
    const account = classroom();
    const atLaunch = runInstancesAuthorizations(account, fromOwnTemplate()).filter(
      (a) => a.action === 'ec2:CreateTags',
    );
    expect(atLaunch.length).toBeGreaterThan(0);
    for (const a of atLaunch) expect((await authorize(policies, a)).verdict).toBe('allow');
    const later = tagInstance(account, { Owner: 'bob' }, { Owner: 'alice' });
    expect((await authorize(policies, later)).verdict).toBe('implicit-deny');
  });

  it.each([
    'ec2:DescribeInstances',
    'ec2:DescribeInstanceTypes',
    'ec2:DescribeLaunchTemplateVersions',
    'ec2:DescribeImages',
  ])('allows the read-only %s', async (action) => {
    expect(await iamCall(action, '*')).toBe('allow');
  });

  const aliceArn = `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/alice`;
  it.each<[string, string, Verdict]>([
    ['iam:CreateUser', aliceArn, 'explicit-deny'],
    ['iam:AttachUserPolicy', aliceArn, 'explicit-deny'],
    ['iam:PutUserPolicy', aliceArn, 'explicit-deny'],
    ['iam:CreateAccessKey', aliceArn, 'explicit-deny'],
    [
      'iam:AddUserToGroup',
      `arn:aws:iam::${ACCOUNT}:group/cost-watchdog/cost-watchdog-users`,
      'explicit-deny',
    ],
    ['iam:ListUsers', '*', 'implicit-deny'],
  ])('denies the IAM change %s', async (action, resource, verdict) => {
    expect(await iamCall(action, resource)).toBe(verdict);
  });

  it('denies iam:PassRole on any role but the GPU metrics role', async () => {
    const toEc2 = { 'iam:PassedToService': 'ec2.amazonaws.com' };
    expect(await iamCall('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/admin`, toEc2)).toBe('explicit-deny');
    expect(await iamCall('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/cost-watchdog/admin`, toEc2)).toBe(
      'explicit-deny',
    );
    expect(
      await iamCall('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/cost-watchdog-gpu-metrics`, toEc2),
    ).toBe('explicit-deny');
    expect(
      await iamCall(
        'iam:PassRole',
        `arn:aws:iam::${ACCOUNT}:role/cost-watchdog/cost-watchdog-gpu-metrics`,
        toEc2,
      ),
    ).toBe('allow');
  });

  it('lets a user change only their own password (needed for the forced reset)', async () => {
    const change = (user: string) =>
      iamCall('iam:ChangePassword', `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/${user}`);
    expect(await change('alice')).toBe('allow');
    expect(await change('bob')).toBe('implicit-deny');
  });

  it("lets a user read their own private key but not someone else's", async () => {
    const read = (name: string) =>
      iamCall('ssm:GetParameter', `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/cost-watchdog/keys/${name}`);
    expect(await read('alice')).toBe('allow');
    expect(await read('bob')).toBe('implicit-deny');
    expect(await read('alice-old')).toBe('implicit-deny');
    // The grant names the user's own parameter, never the whole prefix.
    const keyResources = CLASS_GUARDRAIL.inline.Statement.filter((s) =>
      [s.Action].flat().includes('ssm:GetParameter'),
    )
      .flatMap((s) => [s.Resource ?? []].flat())
      .filter((r) => r.includes('/cost-watchdog/keys/'));
    expect(keyResources).toEqual(['arn:aws:ssm:*:*:parameter/cost-watchdog/keys/${aws:username}']);
  });

  it('uses no wildcard action and never lets a student terminate anything', async () => {
    const neverAllowed = 'ec2:TerminateInstances';
    for (const s of guardrailDocuments(CLASS_GUARDRAIL).flatMap((d) => d.Statement)) {
      const actions = [s.Action ?? []].flat();
      expect(actions).not.toContain('*');
      expect(actions).not.toContain(neverAllowed);
      if (s.Effect === 'Allow') for (const a of actions) expect(a).not.toMatch(/\*/);
    }
    expect(await onAliceInstance(neverAllowed, 'alice')).toBe('implicit-deny');
  });
});

describe('console users and MFA', () => {
  const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/${name}`;
  const device = (name: string) => `arn:aws:iam::${ACCOUNT}:mfa/${name}`;

  it.each<[string, string, Verdict]>([
    ['iam:CreateVirtualMFADevice', device('alice'), 'allow'],
    ['iam:EnableMFADevice', user('alice'), 'allow'],
    ['iam:ResyncMFADevice', user('alice'), 'allow'],
    ['iam:ListMFADevices', user('alice'), 'allow'],
    ['iam:GetMFADevice', user('alice'), 'allow'],
    ['iam:DeleteVirtualMFADevice', device('alice'), 'allow'],
    ['iam:ListVirtualMFADevices', '*', 'allow'],
  ])('lets alice set up her own virtual MFA device: %s on %s is %s', async (action, resource, verdict) => {
    expect(await iamCall(action, resource)).toBe(verdict);
  });

  it.each<[string, string, Verdict]>([
    ['iam:CreateVirtualMFADevice', device('bob'), 'explicit-deny'],
    ['iam:DeleteVirtualMFADevice', device('bob'), 'explicit-deny'],
    ['iam:EnableMFADevice', user('bob'), 'implicit-deny'],
    ['iam:DeactivateMFADevice', user('bob'), 'implicit-deny'],
    ['iam:ResyncMFADevice', user('bob'), 'implicit-deny'],
  ])("never lets alice touch bob's MFA: %s on %s is %s", async (action, resource, verdict) => {
    expect(await iamCall(action, resource)).toBe(verdict);
  });

  it('lets alice switch her MFA off only when she signed in with MFA', async () => {
    const deactivate = (mfa: string) =>
      iamCall('iam:DeactivateMFADevice', user('alice'), { 'aws:MultiFactorAuthPresent': mfa });
    expect(await deactivate('true')).toBe('allow');
    expect(await deactivate('false')).toBe('implicit-deny');
  });

  it('keeps every other IAM change denied, also on her own device and user', async () => {
    expect(await iamCall('iam:CreateAccessKey', user('alice'))).toBe('explicit-deny');
    expect(await iamCall('iam:CreateLoginProfile', user('alice'))).toBe('explicit-deny');
    expect(await iamCall('iam:CreateUser', user('alice'))).toBe('explicit-deny');
    expect(await iamCall('iam:DeleteUser', user('alice'))).toBe('explicit-deny');
  });
});

describe('the size of the guardrail', () => {
  it('stays within what IAM accepts for a large class: 10 types, 6 regions, 5 image ids', () => {
    const big = guardrailPolicies({
      ...CLASS_OPTIONS,
      allowedTypes: [
        't3.micro',
        't3.small',
        't4g.micro',
        't4g.small',
        'c7i-flex.large',
        'm7i-flex.large',
        'g4dn.xlarge',
        'g4dn.2xlarge',
        'g5.xlarge',
        'g6.xlarge',
      ],
      allowedRegions: ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2'],
      exemptTag: 'course:keep-running',
      imageOwners: ['amazon', '444455556666'],
      imageIds: [
        'ami-0123456789abcdef0',
        'ami-0123456789abcdef1',
        'ami-0123456789abcdef2',
        'ami-0123456789abcdef3',
        'ami-0123456789abcdef4',
      ],
    });
    expect(policySize(big.inline)).toBeLessThanOrEqual(IAM_POLICY_LIMITS.groupInline);
    expect(policySize(big.launchLimits)).toBeLessThanOrEqual(IAM_POLICY_LIMITS.managed);
  });
});
