/**
 * Which member-account roles the sweep may assume, generated from watchdog.yml (`accounts`, `organization`) by
 * scripts/serverless-params.cjs: each case packages the stack with its own watchdog.yml.
 */
import { describe, expect, it } from 'vitest';
import { memberRoleArn } from '../../src/aws/sts.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

/** `${aws:PrincipalOrgID}` as CloudFormation joins it (serverless would take the whole string for a variable). */
const ORG_ID_VARIABLE = { 'Fn::Join': ['', ['${', 'aws:PrincipalOrgID}']] };

/** The statements of one role (the sweep's unless named) that name sts:AssumeRole (not trust policies). */
function assumeStatements(template: Template, roleId = 'SweepRole'): Record<string, unknown>[] {
  return roleStatements(template, roleId).filter((s) => actionsOf(s).some((a) => a.startsWith('sts:')));
}

/** Every IAM role and policy of the stack with a statement that names sts:AssumeRole, and those statements. */
function rolesThatAssume(template: Template): Map<string, Record<string, unknown>[]> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const [id, r] of Object.entries(template.Resources)) {
    let statements: Record<string, unknown>[] = [];
    if (r.Type === 'AWS::IAM::Role') statements = roleStatements(template, id);
    if (r.Type === 'AWS::IAM::Policy') {
      const doc = r.Properties?.PolicyDocument as { Statement?: Record<string, unknown>[] } | undefined;
      statements = doc?.Statement ?? [];
    }
    const sts = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sts:')));
    if (sts.length > 0) out.set(id, sts);
  }
  return out;
}

/** The ARN CloudFormation makes of a Fn::Sub resource in the aws partition. */
function arnOf(resource: unknown): string {
  const sub = (resource as { 'Fn::Sub'?: string })['Fn::Sub'];
  if (typeof sub !== 'string') throw new Error(`not a Fn::Sub ARN: ${JSON.stringify(resource)}`);
  return sub.replace('${AWS::Partition}', 'aws');
}

function listAccountsEffect(template: Template): unknown {
  return roleStatements(template, 'SweepRole').find((s) =>
    actionsOf(s).includes('organizations:ListAccounts'),
  )?.Effect;
}

describe('the sweep role and member accounts', () => {
  it('may assume no role at all when watchdog.yml lists no accounts and organization is off', () => {
    // Act
    const template = packagedTemplate({}, { policy: 'regions: [us-east-1]\n' });

    // Assess
    const statements = assumeStatements(template);
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
    expect(statements).toEqual([
      { Sid: 'NoMemberAccounts', Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' },
    ]);
    expect(listAccountsEffect(template)).toBe('Deny');
  }, 300_000);

  it('may assume exactly the member role of each listed account, and no other', () => {
    // Act
    const template = packagedTemplate(
      {},
      {
        policy: 'accounts:\n  - id: "111122223333"\n  - id: "444455556666"\n    roleName: lab-sweeper\n',
      },
    );

    // Assess
    const allowed = assumeStatements(template).filter((s) => s.Effect === 'Allow');
    expect(allowed).toHaveLength(1);
    expect(allowed[0]?.Condition).toBeUndefined();
    expect([allowed[0]?.Resource].flat().map(arnOf)).toEqual([
      memberRoleArn('111122223333', 'cost-watchdog-member', 'us-east-1'),
      memberRoleArn('444455556666', 'lab-sweeper', 'us-east-1'),
    ]);
    expect(JSON.stringify(allowed)).not.toContain('iam::*:');
    expect(listAccountsEffect(template)).toBe('Deny');
  }, 300_000);

  it('with organization: true may assume the member role in any account of its own organization only', () => {
    // Act
    const template = packagedTemplate(
      {},
      {
        policy: 'organization: true\nmemberRoleName: org-sweeper\naccounts:\n  - id: "111122223333"\n',
      },
    );

    // Assess
    const allowed = assumeStatements(template).filter((s) => s.Effect === 'Allow');
    const org = allowed.find((s) => JSON.stringify(s.Resource).includes('iam::*:'));
    const listed = allowed.find((s) => s !== org);
    expect(allowed).toHaveLength(2);
    expect(arnOf(org?.Resource)).toBe('arn:aws:iam::*:role/cost-watchdog/org-sweeper');
    expect(org?.Condition).toEqual({ StringEquals: { 'aws:ResourceOrgID': ORG_ID_VARIABLE } });
    // A listed account may be outside the organization: it gets its exact ARN without the condition.
    expect([listed?.Resource].flat().map(arnOf)).toEqual([
      memberRoleArn('111122223333', 'cost-watchdog-member', 'us-east-1'),
    ]);
    expect(listed?.Condition).toBeUndefined();
    expect(listAccountsEffect(template)).toBe('Allow');
  }, 300_000);

  it.each([
    ['no member accounts', 'regions: [us-east-1]\n', ['LaunchGuardRole', 'SweepRole']],
    [
      'listed accounts (the fan-out on auto)',
      'accounts:\n  - id: "111122223333"\n',
      ['LaunchGuardRole', 'SweepRole', 'SweepWorkerRole'],
    ],
    ['the organization', 'organization: true\n', ['LaunchGuardRole', 'SweepRole', 'SweepWorkerRole']],
  ])(
    "with %s gives the launch guard and the fan-out worker exactly the sweep role's AssumeRole statements, and no other role any",
    (_, policy, roles) => {
      // Act
      const template = packagedTemplate({}, { policy });

      // Assess
      const assuming = rolesThatAssume(template);
      expect([...assuming.keys()].sort()).toEqual(roles);
      for (const role of roles) expect(assuming.get(role), role).toEqual(assumeStatements(template));
    },
    300_000,
  );

  it('refuses to package a watchdog.yml whose account id is not one', () => {
    expect(() => packagedTemplate({}, { policy: 'accounts: [{ id: "1234" }]\n' })).toThrow(
      /accounts\[0\]\.id="1234" must be a 12-digit AWS account id/,
    );
  }, 300_000);
});
