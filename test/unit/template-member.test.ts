import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, type Tags, type YAMLSeq } from 'yaml';
import { CLOUDWATCH_SWEEP_PERMISSIONS } from '../../src/aws/cloudwatch.js';
import { EC2_SWEEP_PERMISSIONS } from '../../src/aws/ec2.js';
import { RDS_SWEEP_PERMISSIONS } from '../../src/aws/rds.js';
import { SAGEMAKER_SWEEP_PERMISSIONS } from '../../src/aws/sagemaker.js';
import { NAMES, TAGS } from '../../src/core/policy.js';

/** CloudFormation short-form tags, read as their long form. */
const cfnTags: Tags = [
  ...['Sub', 'Ref', 'GetAtt'].map((name) => ({
    tag: `!${name}`,
    resolve: (value: string) => ({ [name === 'Ref' ? 'Ref' : `Fn::${name}`]: value }),
  })),
  {
    tag: '!FindInMap',
    collection: 'seq' as const,
    resolve: (value: YAMLSeq) => ({ 'Fn::FindInMap': value.toJSON() }),
  },
];

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: unknown;
}

const template = parse(readFileSync('resources/member-role.yml', 'utf8'), { customTags: cfnTags }) as {
  Parameters: Record<string, { Default?: string; AllowedValues?: string[] }>;
  Mappings: Record<string, Record<string, { Effect: string }>>;
  Resources: { MemberRole: { Type: string; Properties: Record<string, unknown> } };
};
const role = template.Resources.MemberRole.Properties;
const statements = (role.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
  (p) => p.PolicyDocument.Statement,
);
const actions = (s: Statement) => [s.Action].flat();

/** What the launch guard reads in a member account besides what the sweep reads: the instance's security groups. */
const LAUNCH_GUARD_MEMBER_READS = ['ec2:DescribeSecurityGroups'];

describe('the member-account role template', () => {
  it("is a role under the /cost-watchdog/ path that only the watchdog account's sweep, fan-out worker and launch guard roles may assume", () => {
    const trust = (role.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;

    expect(template.Resources.MemberRole.Type).toBe('AWS::IAM::Role');
    expect(role.Path).toBe(NAMES.iamPath);
    expect(Object.keys(template.Parameters)).toContain('WatchdogAccountId');
    expect(trust).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${WatchdogAccountId}:root' } },
        Condition: {
          ArnLike: {
            'aws:PrincipalArn': ['SweepRole', 'SweepWorkerRole', 'LaunchGuardRole'].map((role) => ({
              'Fn::Sub': `arn:\${AWS::Partition}:iam::\${WatchdogAccountId}:role/cost-watchdog/\${WatchdogStackName}-${role}-*`,
            })),
          },
        },
      }),
    ]);
  });

  it('allows exactly the EC2, SageMaker, RDS and CloudWatch actions the sweep adapters declare and the launch guard reads, nothing more', () => {
    const allowed = statements.filter((s) => s.Effect === 'Allow').flatMap(actions);

    expect(new Set(allowed)).toEqual(
      new Set([
        ...EC2_SWEEP_PERMISSIONS,
        ...SAGEMAKER_SWEEP_PERMISSIONS,
        ...RDS_SWEEP_PERMISSIONS,
        ...CLOUDWATCH_SWEEP_PERMISSIONS,
        ...LAUNCH_GUARD_MEMBER_READS,
      ]),
    );
    expect(JSON.stringify(template), 'never terminate').not.toMatch(/TerminateInstances/);
    for (const a of allowed) expect(a).not.toMatch(/^\*$|:\*$/);
  });

  it("never stops an instance tagged exempt and writes only the watchdog's own tags", () => {
    const deny = statements.find((s) => s.Effect === 'Deny' && actions(s).includes('ec2:StopInstances'));
    const tagging = statements.find((s) => actions(s).includes('ec2:CreateTags'));

    expect(deny?.Condition).toEqual({
      StringEqualsIgnoreCase: { [`aws:ResourceTag/${TAGS.exempt}`]: 'true' },
    });
    expect(tagging?.Condition).toEqual({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['cost-watchdog:*'] } });
  });

  it('starts again, only with MorningStart=true, only instances whose stop record says quiet hours stopped them', () => {
    const start = statements.filter((s) => actions(s).includes('ec2:StartInstances'));

    expect(template.Parameters.MorningStart).toMatchObject({
      Default: 'false',
      AllowedValues: ['false', 'true'],
    });
    expect(start).toEqual([
      expect.objectContaining({
        Effect: { 'Fn::FindInMap': ['MorningStartEffect', { Ref: 'MorningStart' }, 'Effect'] },
        Action: 'ec2:StartInstances',
        Condition: {
          StringEquals: {
            [`aws:ResourceTag/${TAGS.stopRule}`]: 'quiet-hours',
            [`aws:ResourceTag/${TAGS.stoppedBy}`]: 'sweep',
          },
        },
      }),
    ]);
    expect(template.Mappings.MorningStartEffect).toEqual({
      true: { Effect: 'Allow' },
      false: { Effect: 'Deny' },
    });
  });

  it('never stops an exempt notebook or database either, and writes only the watchdog tags on them', () => {
    for (const action of ['sagemaker:StopNotebookInstance', 'rds:StopDBInstance', 'rds:StopDBCluster']) {
      const deny = statements.find((s) => s.Effect === 'Deny' && actions(s).includes(action));
      expect(deny?.Condition, action).toEqual({
        StringEqualsIgnoreCase: { [`aws:ResourceTag/${TAGS.exempt}`]: 'true' },
      });
    }
    for (const action of ['sagemaker:AddTags', 'rds:AddTagsToResource']) {
      const tagging = statements.find((s) => actions(s).includes(action));
      expect(tagging?.Condition, action).toEqual({
        'ForAllValues:StringLike': { 'aws:TagKeys': ['cost-watchdog:*'] },
      });
    }
  });
});
