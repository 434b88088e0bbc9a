/**
 * The rules DESIGN.md sets for the whole packaged stack (every function and every IAM policy in it, not only
 * the sweep's): a role per function under /cost-watchdog/, no wildcard action, never TerminateInstances, the
 * exempt deny wherever the watchdog may stop instances, alerts only to the stack's topic, bounded log
 * retention, and the schedule taken from the policy. cfn-lint runs on the same template in .ci/run and in
 * test/emulator/template-lint.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NAMES, parsePolicyText, TAGS } from '../../src/core/policy.js';
import { actionsOf, packagedTemplate, type Template } from '../support/packaged-template.js';

const ROOT = join(import.meta.dirname, '..', '..');
type Statement = Record<string, unknown>;

/**
 * Roles that may call ec2:StopInstances without the exempt deny, each with the reason. Anything else that can
 * stop instances must carry it (DESIGN.md: "StopInstances denied by an IAM condition where the tag
 * cost-watchdog:exempt is true").
 */
const STOP_WITHOUT_EXEMPT_DENY: Record<string, string> = {};

let template: Template;

/** Every IAM statement in the stack with where it comes from (inline role policies and AWS::IAM::*Policy). */
function allStatements(): { where: string; statement: Statement }[] {
  const out: { where: string; statement: Statement }[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    const props = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (props.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
        for (const statement of p.PolicyDocument.Statement) out.push({ where: id, statement });
      }
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const doc = props.PolicyDocument as { Statement: Statement[] };
      for (const statement of doc.Statement) out.push({ where: id, statement });
    }
  }
  return out;
}

/** The roles a statement applies to: the role itself, or the roles an AWS::IAM::Policy is attached to. */
function rolesOf(where: string): string[] {
  const r = template.Resources[where];
  if (r?.Type === 'AWS::IAM::Role') return [where];
  return ((r?.Properties?.Roles ?? []) as unknown[]).map(
    (x) => (x as { Ref?: string }).Ref ?? JSON.stringify(x),
  );
}

function functions(): [string, Record<string, unknown>][] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

describe('the packaged stack as a whole', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('gives every function its own role under /cost-watchdog/ that only Lambda can assume', () => {
    const roles = functions().map(
      ([, p]) => (p.Role as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0],
    );

    expect(functions().length).toBeGreaterThan(0);
    expect(roles.every((r) => typeof r === 'string')).toBe(true);
    expect(new Set(roles).size).toBe(roles.length);
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
    for (const id of roles as string[]) {
      const role = template.Resources[id];
      expect(role?.Type, id).toBe('AWS::IAM::Role');
      expect(role?.Properties?.Path, id).toBe(NAMES.iamPath);
      expect(
        (role?.Properties?.AssumeRolePolicyDocument as { Statement?: Statement[] } | undefined)?.Statement,
        id,
      ).toEqual([
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ]);
    }
  });

  it('grants no wildcard action, uses no NotAction, and never mentions ec2:TerminateInstances', () => {
    const statements = allStatements();

    expect(statements.length).toBeGreaterThan(0);
    for (const { where, statement } of statements) {
      expect(statement.NotAction, where).toBeUndefined();
      for (const action of actionsOf(statement)) {
        expect(action, `${where}: ${action}`).not.toMatch(/^\*$|:\*$/);
        expect(action.toLowerCase(), `${where}: ${action}`).not.toMatch(/^ec2:terminate/);
      }
    }
    expect(JSON.stringify(template), 'never terminate').not.toMatch(/TerminateInstances/i);
  });

  it('denies ec2:StopInstances on exempt instances in every role that may stop instances', () => {
    const statements = allStatements();
    const stoppers = new Set(
      statements
        .filter(
          ({ statement }) =>
            statement.Effect === 'Allow' && actionsOf(statement).includes('ec2:StopInstances'),
        )
        .flatMap(({ where }) => rolesOf(where)),
    );
    const denied = new Set(
      statements
        .filter(
          ({ statement }) =>
            statement.Effect === 'Deny' &&
            actionsOf(statement).includes('ec2:StopInstances') &&
            JSON.stringify(statement.Condition) ===
              JSON.stringify({ StringEqualsIgnoreCase: { [`aws:ResourceTag/${TAGS.exempt}`]: 'true' } }),
        )
        .flatMap(({ where }) => rolesOf(where)),
    );

    expect(stoppers.has('SweepRole')).toBe(true);
    const missing = [...stoppers].filter((r) => !denied.has(r) && !(r in STOP_WITHOUT_EXEMPT_DENY));
    expect(missing).toEqual([]);
  });

  it('lets every role publish only to the stack topic', () => {
    const publishing = allStatements().filter(
      ({ statement }) =>
        statement.Effect === 'Allow' && actionsOf(statement).some((a) => a.startsWith('sns:Publish')),
    );

    expect(publishing.length).toBeGreaterThan(0);
    for (const { where, statement } of publishing)
      expect(statement.Resource, where).toEqual({ Ref: 'AlertTopic' });
  });

  it('lets roles write only the watchdog tags on instances, unless tagging what they create', () => {
    const tagging = allStatements().filter(
      ({ statement }) =>
        statement.Effect === 'Allow' &&
        actionsOf(statement).some((a) => a === 'ec2:CreateTags' || a === 'ec2:DeleteTags'),
    );

    for (const { where, statement } of tagging) {
      const condition = JSON.stringify(statement.Condition ?? null);
      const onlyOwnTags =
        condition === JSON.stringify({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['cost-watchdog:*'] } });
      const onlyOnCreate = condition.includes('ec2:CreateAction');
      // provision re-tags its own key pairs, groups and templates with the owner: never an instance.
      const onlyOwnerOnManaged =
        condition ===
          JSON.stringify({
            StringEquals: { 'aws:ResourceTag/cost-watchdog:managed': 'true' },
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['Owner'] },
          }) && !JSON.stringify(statement.Resource).includes(':instance/');
      // deprovision --stop-instances records its stop (enforce.ts) on owned instances: those keys and no others.
      const stopRecord = [TAGS.stoppedAt, TAGS.stopReason, TAGS.stoppedBy, TAGS.warnedAt, TAGS.warnRule];
      const onlyStopRecordOnOwned =
        condition ===
        JSON.stringify({
          Null: { 'aws:ResourceTag/Owner': 'false' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': stopRecord },
          'ForAnyValue:StringEquals': { 'aws:TagKeys': stopRecord },
        });
      expect(
        onlyOwnTags || onlyOnCreate || onlyOwnerOnManaged || onlyStopRecordOnOwned,
        `${where}: ${condition}`,
      ).toBe(true);
    }
  });

  it('keeps the logs of every function for 30 days', () => {
    const logGroups = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');

    expect(logGroups).toHaveLength(functions().length);
    for (const g of logGroups)
      expect(g.Properties?.RetentionInDays, String(g.Properties?.LogGroupName)).toBe(30);
  });

  it('runs every function on Node.js 22 or newer', () => {
    for (const [id, p] of functions()) expect(String(p.Runtime), id).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
  });

  it("schedules the sweep with the policy's schedule", () => {
    const policy = parsePolicyText(readFileSync(join(ROOT, 'watchdog.yml'), 'utf8'));
    const rule = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('SweepLambdaFunction'),
    );

    expect(rule?.Properties?.ScheduleExpression).toBe(policy.schedule);
  });
});
