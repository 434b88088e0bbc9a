import { beforeAll, describe, expect, it } from 'vitest';
import bundling from '../../scripts/bundling.cjs';
import { CLOUDWATCH_SWEEP_PERMISSIONS } from '../../src/aws/cloudwatch.js';
import { EC2_SWEEP_PERMISSIONS } from '../../src/aws/ec2.js';
import { RDS_SWEEP_PERMISSIONS } from '../../src/aws/rds.js';
import { SAGEMAKER_SWEEP_PERMISSIONS } from '../../src/aws/sagemaker.js';
import { USAGE_STORE_PERMISSIONS } from '../../src/aws/usage-store.js';
import { SNS_PERMISSIONS } from '../../src/aws/sns.js';
import { TAGS } from '../../src/core/policy.js';
import type { PolicyDocument, Statement } from '../../src/core/provisioning/guardrail.js';
import { ACCOUNT, authorize } from '../support/iam-simulator.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

const { LAMBDA_BUILD, plugins } = bundling;

let template: Template;
const fn = (name: string) => template.Resources[name]?.Properties ?? {};

describe('the packaged stack: sweep', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('runs the sweep on Node.js 22 or newer with the schedule from the policy', () => {
    const sweep = fn('SweepLambdaFunction');
    expect(String(sweep.Runtime)).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    const rule = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('SweepLambdaFunction'),
    );
    expect(rule?.Properties?.ScheduleExpression).toBe('rate(1 hour)');
    expect(rule?.Properties?.State).toBe('ENABLED');
  });

  it('has the alert topic and an email subscription for the admin, filtered to what is not for one owner', () => {
    expect(template.Resources.AlertTopic?.Type).toBe('AWS::SNS::Topic');
    expect(fn('AdminSubscription')).toMatchObject({
      Protocol: 'email',
      Endpoint: 'ci@example.com',
      TopicArn: { Ref: 'AlertTopic' },
      // Not `audience: [admin]`: CloudWatch alarms and Lambda on-failure records carry no attributes (#8).
      FilterPolicy: { owner: [{ exists: false }] },
    });
    expect(fn('SweepLambdaFunction')).toMatchObject({
      Environment: { Variables: { TOPIC_ARN: { Ref: 'AlertTopic' } } },
    });
  });

  it('keeps the sweep logs for a bounded time', () => {
    expect(fn('SweepLogGroup').RetentionInDays).toBeGreaterThan(0);
  });

  it('gives the sweep its own role and exactly the permissions its adapters declare', () => {
    const statements = roleStatements(template, 'SweepRole');
    const allowed = statements.filter((s) => s.Effect === 'Allow').flatMap(actionsOf);
    const declared = [
      ...EC2_SWEEP_PERMISSIONS,
      ...SAGEMAKER_SWEEP_PERMISSIONS,
      ...RDS_SWEEP_PERMISSIONS,
      ...CLOUDWATCH_SWEEP_PERMISSIONS,
      ...SNS_PERMISSIONS,
      ...USAGE_STORE_PERMISSIONS,
    ];

    expect(fn('SweepLambdaFunction').Role).toEqual({ 'Fn::GetAtt': ['SweepRole', 'Arn'] });
    for (const action of declared) expect(allowed).toContain(action);
    const extra = allowed.filter((a) => !(declared as string[]).includes(a) && !a.startsWith('logs:'));
    // Permissions for features beyond the sweep's adapters must each be justified here.
    expect(
      extra.filter(
        (a) =>
          !['sts:AssumeRole', 'organizations:ListAccounts', 'kms:GenerateDataKey*', 'kms:Decrypt'].includes(
            a,
          ),
      ),
    ).toEqual([]);
  });

  it('has no wildcard action and never TerminateInstances anywhere in the stack', () => {
    const text = JSON.stringify(template);
    expect(text, 'never terminate').not.toMatch(/TerminateInstances/);
    for (const [id] of Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role')) {
      for (const s of roleStatements(template, id)) {
        for (const a of actionsOf(s)) expect(a, `${id}: ${a}`).not.toMatch(/^\*$|:\*$/);
      }
    }
  });

  it('denies StopInstances on instances tagged exempt, and lets the sweep stop only instances of this account', () => {
    const statements = roleStatements(template, 'SweepRole');
    const deny = statements.find((s) => s.Effect === 'Deny' && actionsOf(s).includes('ec2:StopInstances'));
    const allow = statements.find((s) => s.Effect === 'Allow' && actionsOf(s).includes('ec2:StopInstances'));

    expect(deny?.Condition).toEqual({
      StringEqualsIgnoreCase: { 'aws:ResourceTag/cost-watchdog:exempt': 'true' },
    });
    expect(JSON.stringify(allow?.Resource)).toContain(':instance/*');
    expect(JSON.stringify(allow?.Resource)).toContain('${AWS::AccountId}');
  });

  it('lets the sweep write only its own tags', () => {
    const tagging = roleStatements(template, 'SweepRole').find((s) =>
      actionsOf(s).includes('ec2:CreateTags'),
    );

    expect(tagging?.Condition).toEqual({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['cost-watchdog:*'] } });
  });

  it('denies every stop action on resources tagged exempt, with the same condition as StopInstances', () => {
    const statements = roleStatements(template, 'SweepRole');
    const denied = (action: string) =>
      statements.find((s) => s.Effect === 'Deny' && actionsOf(s).includes(action))?.Condition;

    for (const action of ['sagemaker:StopNotebookInstance', 'rds:StopDBInstance', 'rds:StopDBCluster']) {
      expect(denied(action), action).toEqual(denied('ec2:StopInstances'));
    }
  });

  it('never lets the sweep delete or snapshot a notebook or database (only its own tags)', () => {
    const allowed = roleStatements(template, 'SweepRole')
      .filter((s) => s.Effect === 'Allow')
      .flatMap(actionsOf);

    const destructive = allowed.filter(
      (a) => /^(sagemaker|rds):(Delete|Create|Modify|Update|Reboot|Failover)/.test(a) || /Snapshot/.test(a),
    );
    expect(destructive).toEqual(['sagemaker:DeleteTags']);
  });

  describe('judged by the IAM simulator', () => {
    const resolve = (value: unknown): unknown =>
      typeof value === 'object' && value !== null && 'Fn::Sub' in value
        ? String((value as { 'Fn::Sub': string })['Fn::Sub'])
            .replaceAll('${AWS::Partition}', 'aws')
            .replaceAll('${AWS::AccountId}', ACCOUNT)
            .replaceAll('${AWS::Region}', 'us-east-1')
        : Array.isArray(value)
          ? value.map(resolve)
          : value;
    const role = (): PolicyDocument => ({
      Version: '2012-10-17',
      Statement: roleStatements(template, 'SweepRole')
        .filter((s) => actionsOf(s).some((a) => /^(sagemaker|rds):/.test(a)))
        .map((s) => ({ ...s, Resource: resolve(s.Resource) }) as unknown as Statement),
    });
    const notebook = `arn:aws:sagemaker:eu-west-1:${ACCOUNT}:notebook-instance/course-nb`;
    const db = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:course-db`;
    const cluster = `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:course-aurora`;
    const otherAccount = `arn:aws:rds:eu-west-1:444455556666:db:course-db`;
    const verdict = async (action: string, resource: string, context: Record<string, string | string[]>) =>
      (await authorize([role()], { action, resource, context })).verdict;

    it.each([
      ['sagemaker:StopNotebookInstance', notebook],
      ['rds:StopDBInstance', db],
      ['rds:StopDBCluster', cluster],
    ])('%s: stops a resource that is not exempt, never one tagged exempt=true', async (action, resource) => {
      expect(await verdict(action, resource, {})).toBe('allow');
      expect(await verdict(action, resource, { [`aws:ResourceTag/${TAGS.exempt}`]: 'true' })).toBe(
        'explicit-deny',
      );
      expect(await verdict(action, resource, { [`aws:ResourceTag/${TAGS.exempt}`]: 'TRUE' })).toBe(
        'explicit-deny',
      );
      // A snooze date is enforced in code, so an expired snooze can still be stopped.
      expect(await verdict(action, resource, { [`aws:ResourceTag/${TAGS.exempt}`]: '2026-01-01' })).toBe(
        'allow',
      );
    });

    it('stops databases of this account only', async () => {
      expect(await verdict('rds:StopDBInstance', otherAccount, {})).toBe('implicit-deny');
    });

    it.each([
      ['sagemaker:AddTags', notebook],
      ['sagemaker:DeleteTags', notebook],
      ['rds:AddTagsToResource', db],
      ['rds:AddTagsToResource', cluster],
      ['rds:RemoveTagsFromResource', db],
    ])('%s on %s: only the watchdog own tag keys', async (action, resource) => {
      expect(await verdict(action, resource, { 'aws:TagKeys': [TAGS.warnedAt, TAGS.warnRule] })).toBe(
        'allow',
      );
      expect(await verdict(action, resource, { 'aws:TagKeys': ['Owner'] })).toBe('implicit-deny');
      expect(await verdict(action, resource, { 'aws:TagKeys': [TAGS.warnedAt, 'Name'] })).toBe(
        'implicit-deny',
      );
    });
  });

  it('lets the sweep publish only to the stack topic', () => {
    const publish = roleStatements(template, 'SweepRole').find((s) => actionsOf(s).includes('sns:Publish'));

    expect(publish?.Resource).toEqual({ Ref: 'AlertTopic' });
  });
});

describe('the sweep bundle', () => {
  it('leaves out the Price List, IAM and provisioning clients', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      ...LAMBDA_BUILD,
      plugins: plugins(),
      entryPoints: ['src/handlers/sweep.ts'],
      outdir: 'out',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });

    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.includes('@aws-sdk/client-ec2/'))).toBe(true);
    for (const unwanted of [
      '@aws-sdk/client-pricing/',
      '@aws-sdk/client-iam/',
      'src/aws/provisioning/provision-ec2.ts',
      'src/aws/provisioning/iam.ts',
    ]) {
      expect(
        inputs.filter((i) => i.includes(unwanted)),
        unwanted,
      ).toEqual([]);
    }
  }, 60_000);
});
