import { beforeAll, describe, expect, it } from 'vitest';
import bundling from '../../scripts/bundling.cjs';
import { CLOUDWATCH_SWEEP_PERMISSIONS } from '../../src/aws/cloudwatch.js';
import { EC2_SWEEP_PERMISSIONS } from '../../src/aws/ec2.js';
import { USAGE_STORE_PERMISSIONS } from '../../src/aws/usage-store.js';
import { SNS_PERMISSIONS } from '../../src/aws/sns.js';
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
          ![
            'sts:AssumeRole',
            'organizations:ListAccounts',
            'kms:GenerateDataKey*',
            'kms:Decrypt',
          ].includes(a),
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
