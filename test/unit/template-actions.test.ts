import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SIGNING_KEY_CREATE_PERMISSIONS } from '../../src/aws/signing-key.js';
import { NAMES } from '../../src/core/policy.js';
import { ACTIONS_PERMISSIONS } from '../../src/handlers/actions.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

let template: Template;
const props = (name: string) => template.Resources[name]?.Properties ?? {};
const KEY_ARN = `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${NAMES.signingKeyParameter}`;

function statementsOfPolicy(name: string): Record<string, unknown>[] {
  const doc = props(name).PolicyDocument as { Statement: Record<string, unknown>[] };
  return doc.Statement;
}

describe('the packaged stack: action links', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('serves the actions function on a public function URL (the link signature is the authorisation)', () => {
    expect(props('ActionsLambdaFunctionUrl')).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': ['ActionsLambdaFunction', 'Arn'] },
    });
    expect(props('ActionsLambdaFunction').Role).toEqual({ 'Fn::GetAtt': ['ActionsRole', 'Arn'] });
    expect(Number(props('ActionsLambdaFunction').Timeout)).toBeLessThanOrEqual(30);
  });

  it('reserves no concurrency by default (new accounts with a limit of 10 could not deploy), and alarms on throttles', () => {
    expect(props('ActionsLambdaFunction')).not.toHaveProperty('ReservedConcurrentExecutions');
    const throttles = Object.values(template.Resources).filter(
      (r) =>
        r.Type === 'AWS::CloudWatch::Alarm' &&
        r.Properties?.MetricName === 'Throttles' &&
        JSON.stringify(r.Properties?.Dimensions) ===
          JSON.stringify([{ Name: 'FunctionName', Value: { Ref: 'ActionsLambdaFunction' } }]),
    );
    expect(throttles).toHaveLength(1);
    expect(throttles[0]?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlertTopic' }],
    });
  });

  it('tells the sweep where the actions function is and both functions where the key is, never the key', () => {
    const sweepEnv = (props('SweepLambdaFunction').Environment as { Variables: Record<string, unknown> })
      .Variables;
    const actionsEnv = (props('ActionsLambdaFunction').Environment as { Variables: Record<string, unknown> })
      .Variables;

    expect(sweepEnv.ACTIONS_URL).toEqual({ 'Fn::GetAtt': ['ActionsLambdaFunctionUrl', 'FunctionUrl'] });
    expect(sweepEnv.SIGNING_KEY_PARAMETER).toBe(NAMES.signingKeyParameter);
    expect(actionsEnv.SIGNING_KEY_PARAMETER).toBe(NAMES.signingKeyParameter);
    expect(JSON.stringify([sweepEnv, actionsEnv])).not.toMatch(/SIGNING_KEY"|SECRET|HMAC_KEY/);
  });

  it('gives the actions function its own role with exactly the permissions it declares', () => {
    const statements = roleStatements(template, 'ActionsRole');
    const allowed = statements.filter((s) => s.Effect === 'Allow').flatMap(actionsOf);

    expect(props('ActionsRole').Path).toBe(NAMES.iamPath);
    expect(allowed.filter((a) => !a.startsWith('logs:')).sort()).toEqual(
      [...ACTIONS_PERMISSIONS, 'kms:Decrypt'].sort(),
    );
  });

  it('lets the actions function read only the signing key, decrypting only through SSM', () => {
    const statements = roleStatements(template, 'ActionsRole');
    const read = statements.find((s) => actionsOf(s).includes('ssm:GetParameter'));
    const decrypt = statements.find((s) => actionsOf(s).includes('kms:Decrypt'));

    expect(read?.Resource).toEqual({ 'Fn::Sub': KEY_ARN });
    expect(decrypt?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' } },
    });
  });

  it('lets the actions function write only watchdog tags and never stop an exempt instance', () => {
    const statements = roleStatements(template, 'ActionsRole');
    const tagging = statements.find((s) => actionsOf(s).includes('ec2:CreateTags'));
    const deny = statements.find((s) => s.Effect === 'Deny' && actionsOf(s).includes('ec2:StopInstances'));

    expect(tagging?.Condition).toEqual({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['cost-watchdog:*'] } });
    expect(deny?.Condition).toEqual({
      StringEqualsIgnoreCase: { 'aws:ResourceTag/cost-watchdog:exempt': 'true' },
    });
  });

  it('lets the sweep read or create the signing key, and nothing else, through a policy on its role', () => {
    const statements = statementsOfPolicy('SweepActionLinksPolicy');
    const ssm = statements.find((s) => actionsOf(s).includes('ssm:PutParameter'));

    expect(props('SweepActionLinksPolicy').Roles).toEqual([{ Ref: 'SweepRole' }]);
    expect(statements.flatMap(actionsOf).sort()).toEqual(
      [...SIGNING_KEY_CREATE_PERMISSIONS, 'kms:Decrypt'].sort(),
    );
    expect(ssm?.Resource).toEqual({ 'Fn::Sub': KEY_ARN });
  });
});

describe('the packaged stack with --param actionsConcurrency', () => {
  it('reserves that many concurrent executions for the actions function, and only for it', () => {
    const t = packagedTemplate({ actionsConcurrency: '5' });
    const reserved = Object.entries(t.Resources)
      .filter(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Function' && r.Properties?.ReservedConcurrentExecutions !== undefined,
      )
      .map(([id, r]) => [id, r.Properties?.ReservedConcurrentExecutions]);

    expect(reserved).toEqual([['ActionsLambdaFunction', 5]]);
  }, 300_000);

  it.each(['0', '-1', 'lots', '1001'])(
    'refuses actionsConcurrency=%s with the fix',
    (value) => {
      const result = spawnSync(
        process.execPath,
        [
          'node_modules/serverless/bin/serverless.js',
          'package',
          '--package',
          mkdtempSync(join(tmpdir(), 'cw-sls-')),
          '--param',
          'alertEmail=ci@example.com',
          '--param',
          `actionsConcurrency=${value}`,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
        },
      );

      expect(result.status).not.toBe(0);
      expect(result.stdout + result.stderr).toContain(
        `--param actionsConcurrency="${value}" is not a whole number from 1 to 1000`,
      );
    },
    120_000,
  );
});
