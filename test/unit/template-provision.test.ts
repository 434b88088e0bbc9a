import { beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PERMISSIONS } from '../../src/aws/provisioning/account.js';
import { IAM_PROVISION_PERMISSIONS } from '../../src/aws/provisioning/iam.js';
import { EC2_PROVISION_PERMISSIONS } from '../../src/aws/provisioning/provision-ec2.js';
import { SNS_SUBSCRIBE_PERMISSIONS } from '../../src/aws/provisioning/sns-subscriptions.js';
import { SIGNING_KEY_CREATE_PERMISSIONS } from '../../src/aws/signing-key.js';
import { SSM_PROVISION_PERMISSIONS } from '../../src/aws/provisioning/ssm.js';
import type { PolicyDocument, Statement } from '../../src/core/provisioning/guardrail.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import { ACCOUNT, authorize } from '../support/iam-simulator.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

let template: Template;
const fn = (name: string) => template.Resources[name]?.Properties ?? {};
const resourcesOf = (s: Record<string, unknown>): string[] =>
  [s.Resource].flat().map((r) => JSON.stringify(r));
const allows = (action: string) =>
  roleStatements(template, 'ProvisionRole').filter(
    (s) => s.Effect === 'Allow' && actionsOf(s).includes(action),
  );

/** Actions only provisioning needs: no other function's role may have any of them. */
const PROVISION_ONLY = [
  ...IAM_PROVISION_PERMISSIONS,
  ...SSM_PROVISION_PERMISSIONS,
  ...SNS_SUBSCRIBE_PERMISSIONS,
  'iam:TagUser',
  'ec2:CreateKeyPair',
  'ec2:DeleteKeyPair',
  'ec2:CreateDefaultVpc',
  'ec2:CreateSecurityGroup',
  'ec2:AuthorizeSecurityGroupIngress',
  'ec2:RevokeSecurityGroupIngress',
  'ec2:DeleteSecurityGroup',
  'ec2:CreateLaunchTemplate',
  'ec2:CreateLaunchTemplateVersion',
  'ec2:ModifyLaunchTemplate',
  'ec2:DeleteLaunchTemplate',
];

describe('the packaged stack: provision', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('deploys the provision function with its own role and the alert topic', () => {
    expect(fn('ProvisionLambdaFunction')).toMatchObject({
      Role: { 'Fn::GetAtt': ['ProvisionRole', 'Arn'] },
      Environment: { Variables: { TOPIC_ARN: { Ref: 'AlertTopic' } } },
    });
    expect(fn('ProvisionRole').Path).toBe('/cost-watchdog/');
  });

  it('gives the provision role exactly the actions its adapters declare', () => {
    const allowed = new Set(
      roleStatements(template, 'ProvisionRole')
        .filter((s) => s.Effect === 'Allow')
        .flatMap(actionsOf)
        .filter((a) => !a.startsWith('logs:')),
    );
    const declared = new Set<string>([
      ...IAM_PROVISION_PERMISSIONS,
      ...SSM_PROVISION_PERMISSIONS,
      ...EC2_PROVISION_PERMISSIONS,
      ...SNS_SUBSCRIBE_PERMISSIONS,
      ...ACCOUNT_PERMISSIONS,
      // CreateUser with tags is authorized as iam:TagUser too.
      'iam:TagUser',
    ]);
    expect([...allowed].sort()).toEqual([...declared].sort());
  });

  it('lets the provision role write IAM only under /cost-watchdog/ and on the cost-watchdog-users group', () => {
    for (const s of roleStatements(template, 'ProvisionRole').filter((s) =>
      actionsOf(s).some((a) => a.startsWith('iam:')),
    )) {
      const writes = actionsOf(s).filter((a) => !/^iam:(Get|List)/.test(a));
      // The account alias (the students' sign-in URL) has no resource-level permissions: alone in its statement.
      if (resourcesOf(s).includes('"*"')) {
        expect(actionsOf(s)).toEqual(['iam:ListAccountAliases']);
        continue;
      }
      for (const r of resourcesOf(s)) {
        if (writes.length > 0)
          expect(r, `${String(s.Sid)}: ${r}`).toMatch(/:(user|group|policy)\/cost-watchdog\//);
        else
          expect(r).toMatch(
            /:(user\/\*|group\/cost-watchdog-users|policy\/cost-watchdog\/|instance-profile\/(cost-watchdog\/)?cost-watchdog-gpu-metrics")/,
          );
      }
    }
  });

  it('lets the provision role attach to the users group only its own managed policies (the launch limits)', () => {
    const attach = allows('iam:AttachGroupPolicy');
    expect(attach).toHaveLength(1);
    expect(resourcesOf(attach[0] ?? {})).toEqual([
      expect.stringContaining(':group/cost-watchdog/cost-watchdog-users'),
    ]);
    expect(JSON.stringify(attach[0]?.Condition)).toMatch(
      /"ArnLike":\{"iam:PolicyARN":.*:policy\/cost-watchdog\/\*/,
    );
  });

  it('lets the provision role touch only the parameters it writes and read the public AMI ids', () => {
    const allowed = roleStatements(template, 'ProvisionRole').filter(
      (s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('ssm:')),
    );
    for (const s of allowed) {
      for (const r of resourcesOf(s)) {
        if (actionsOf(s).every((a) => a === 'ssm:GetParameter') && r.includes('/aws/service/')) {
          expect(r).toMatch(/parameter\/aws\/service\/(ami-amazon-linux-latest|deeplearning\/ami)\/\*/);
        } else {
          expect(r).toMatch(
            new RegExp(
              `:parameter(${NAMES.keyParameterPrefix}|${NAMES.passwordParameterPrefix}|${NAMES.accessKeyParameterPrefix})\\*"}$`,
            ),
          );
        }
      }
    }
  });

  it('denies the provision role every use of the signing key, whatever else it is allowed', () => {
    const deny = roleStatements(template, 'ProvisionRole').filter(
      (s) => s.Effect === 'Deny' && resourcesOf(s).some((r) => r.includes(NAMES.signingKeyParameter)),
    );

    expect(deny).toHaveLength(1);
    expect(resourcesOf(deny[0] as Record<string, unknown>)).toEqual([
      JSON.stringify({
        'Fn::Sub': `arn:\${AWS::Partition}:ssm:*:\${AWS::AccountId}:parameter${NAMES.signingKeyParameter}`,
      }),
    ]);
    const denied = actionsOf(deny[0] as Record<string, unknown>);
    for (const action of [
      ...SSM_PROVISION_PERMISSIONS,
      ...SIGNING_KEY_CREATE_PERMISSIONS,
      'ssm:GetParameters',
      'ssm:GetParameterHistory',
      'ssm:DeleteParameters',
      'ssm:LabelParameterVersion',
    ]) {
      expect(denied, action).toContain(action);
    }
    expect(deny[0]?.Condition).toBeUndefined();
  });

  it('limits EC2 writes to cost-watchdog-* key pairs and to groups and templates carrying the managed tag', () => {
    expect(allows('ec2:CreateKeyPair').flatMap(resourcesOf)).toEqual([
      expect.stringContaining(':key-pair/cost-watchdog-*'),
    ]);
    for (const action of ['ec2:CreateSecurityGroup', 'ec2:CreateLaunchTemplate']) {
      const onResources = allows(action).filter((s) => !resourcesOf(s).every((r) => r.includes(':vpc/')));
      for (const s of onResources) {
        expect(s.Condition).toEqual({ StringEquals: { 'aws:RequestTag/cost-watchdog:managed': 'true' } });
      }
    }
    for (const action of [
      'ec2:RevokeSecurityGroupIngress',
      'ec2:DeleteSecurityGroup',
      'ec2:DeleteLaunchTemplate',
    ]) {
      for (const s of allows(action)) {
        expect(s.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/cost-watchdog:managed': 'true' } });
      }
    }
    // Instances carry the owner tag only (a student may set no cost-watchdog:* tag): deprovision stops those.
    expect(allows('ec2:StopInstances').map((s) => s.Condition)).toEqual([
      { Null: { 'aws:ResourceTag/Owner': 'false' } },
    ]);
    const stopRecord = [TAGS.stoppedAt, TAGS.stopReason, TAGS.stoppedBy, TAGS.warnedAt, TAGS.warnRule];
    expect(allows('ec2:CreateTags').map((s) => s.Condition)).toEqual([
      {
        StringEquals: {
          'ec2:CreateAction': ['CreateKeyPair', 'CreateSecurityGroup', 'CreateLaunchTemplate'],
        },
      },
      // Re-runs put back the owner tag, and only that, on provision's own key pairs, groups and templates.
      {
        StringEquals: { 'aws:ResourceTag/cost-watchdog:managed': 'true' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['Owner'] },
      },
      // deprovision --stop-instances records the stop on owned instances (enforce's stopResources).
      {
        Null: { 'aws:ResourceTag/Owner': 'false' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': stopRecord },
        'ForAnyValue:StringEquals': { 'aws:TagKeys': stopRecord },
      },
    ]);
    expect(allows('ec2:DeleteTags').map((s) => s.Condition)).toEqual([
      {
        Null: { 'aws:ResourceTag/Owner': 'false' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': stopRecord },
        'ForAnyValue:StringEquals': { 'aws:TagKeys': stopRecord },
      },
    ]);
  });

  it('lets deprovision record its stops on owned instances, and nothing else: judged by the IAM simulator', async () => {
    // Prepare: the role's policy with the template's substitutions made
    const resolve = (value: unknown): unknown =>
      typeof value === 'object' && value !== null && 'Fn::Sub' in value
        ? String((value as { 'Fn::Sub': string })['Fn::Sub'])
            .replaceAll('${AWS::Partition}', 'aws')
            .replaceAll('${AWS::AccountId}', ACCOUNT)
            .replaceAll('${AWS::Region}', 'us-east-1')
        : Array.isArray(value)
          ? value.map(resolve)
          : value;
    const statements = roleStatements(template, 'ProvisionRole')
      .filter((s) => actionsOf(s).some((a) => /^ec2:(CreateTags|DeleteTags|StopInstances)$/.test(a)))
      .map((s) => ({ ...s, Resource: resolve(s.Resource) }) as unknown as Statement);
    const role: PolicyDocument = { Version: '2012-10-17', Statement: statements };
    const instance = `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0123456789abcdef0`;
    const call = async (action: string, tags: Record<string, string>, keys: string[] | undefined) =>
      (
        await authorize([role], {
          action,
          resource: instance,
          context: {
            ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
            ...(keys ? { 'aws:TagKeys': keys } : {}),
          },
        })
      ).verdict;
    const owned = { Owner: 'alice' };

    // Act / Assess
    expect(await call('ec2:CreateTags', owned, [TAGS.stoppedAt, TAGS.stopReason, TAGS.stoppedBy])).toBe(
      'allow',
    );
    expect(await call('ec2:DeleteTags', owned, [TAGS.warnedAt, TAGS.warnRule])).toBe('allow');
    expect(await call('ec2:StopInstances', owned, undefined)).toBe('allow');
    expect(await call('ec2:CreateTags', owned, [TAGS.exempt])).toBe('implicit-deny');
    expect(await call('ec2:CreateTags', owned, [TAGS.stoppedBy, 'Owner'])).toBe('implicit-deny');
    expect(await call('ec2:DeleteTags', owned, [TAGS.exempt])).toBe('implicit-deny');
    // DeleteTags without keys deletes every tag of the instance.
    expect(await call('ec2:DeleteTags', owned, undefined)).toBe('implicit-deny');
    expect(await call('ec2:CreateTags', {}, [TAGS.stoppedBy])).toBe('implicit-deny');
    expect(await call('ec2:StopInstances', { ...owned, [TAGS.exempt]: 'true' }, undefined)).toBe(
      'explicit-deny',
    );
  });

  it('subscribes only to the stack topic, and never terminates', () => {
    expect(allows('sns:Subscribe').flatMap((s) => [s.Resource].flat())).toEqual([{ Ref: 'AlertTopic' }]);
    for (const a of roleStatements(template, 'ProvisionRole').flatMap(actionsOf)) {
      expect(a, 'never a wildcard or terminate').not.toMatch(/^\*$|:\*$|TerminateInstances/);
    }
  });

  it('gives the sweep role none of the provisioning permissions, no IAM, and SSM only on its month counters', () => {
    const allowed = roleStatements(template, 'SweepRole').filter((s) => s.Effect === 'Allow');
    const outsideUsage = allowed.filter(
      (s) => !JSON.stringify(s.Resource).includes('parameter/cost-watchdog/usage/*'),
    );
    expect(
      outsideUsage.flatMap(actionsOf).filter((a) => PROVISION_ONLY.includes(a) || /^(iam|ssm):/.test(a)),
    ).toEqual([]);
  });

  it('gives no other role the power to create or delete users, keys, parameters, groups or templates', () => {
    const roles = Object.entries(template.Resources).filter(
      ([id, r]) => r.Type === 'AWS::IAM::Role' && id !== 'ProvisionRole',
    );
    for (const [id] of roles) {
      // The month counters (/cost-watchdog/usage/*) are the sweep's and the digest's own, not provisioning's.
      const actions = roleStatements(template, id)
        .filter((s) => s.Effect === 'Allow')
        .filter((s) => !JSON.stringify(s.Resource).includes('parameter/cost-watchdog/usage/*'))
        .flatMap(actionsOf);
      // Reading is not provisioning (a parameter, the users group); other functions may need to read them.
      expect(
        actions.filter((a) => PROVISION_ONLY.includes(a) && !/^\w+:(Get|List|Describe)/.test(a)),
        id,
      ).toEqual([]);
    }
  });
});
