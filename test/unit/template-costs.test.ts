import { beforeAll, describe, expect, it } from 'vitest';
import { EC2_COSTS_PERMISSIONS } from '../../src/aws/ec2-costs.js';
import { NAT_TRAFFIC_PERMISSIONS } from '../../src/aws/nat-traffic.js';
import { PRICING_PERMISSIONS } from '../../src/aws/pricing.js';
import {
  DB_CLUSTER_EVENT_DETAIL_TYPE,
  DB_INSTANCE_EVENT_DETAIL_TYPE,
  DB_STARTED_EVENT_IDS,
  NOTEBOOK_STATE_DETAIL_TYPE,
} from '../../src/core/launch-event.js';
import { RDS_READ_PERMISSIONS } from '../../src/aws/rds.js';
import { SAGEMAKER_READ_PERMISSIONS } from '../../src/aws/sagemaker.js';
import { PROVISIONED_USERS_PERMISSIONS } from '../../src/aws/provisioned-users.js';
import { SNS_PERMISSIONS } from '../../src/aws/sns.js';
import { USAGE_STORE_PERMISSIONS } from '../../src/aws/usage-store.js';
import { TAGS } from '../../src/core/policy.js';
import type { PolicyDocument, Statement } from '../../src/core/provisioning/guardrail.js';
import { ACCOUNT, authorize } from '../support/iam-simulator.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

/** A role statement's resources with the stack's Fn::Sub placeholders filled in (account ACCOUNT, aws). */
function resolveSub(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'Fn::Sub' in value) {
    return String((value as { 'Fn::Sub': string })['Fn::Sub'])
      .replaceAll('${AWS::Partition}', 'aws')
      .replaceAll('${AWS::AccountId}', ACCOUNT)
      .replaceAll('${AWS::Region}', 'us-east-1');
  }
  return Array.isArray(value) ? value.map(resolveSub) : value;
}

let template: Template;
const fn = (name: string) => template.Resources[name]?.Properties ?? {};
const allowedBy = (role: string) =>
  roleStatements(template, role)
    .filter((s) => s.Effect === 'Allow')
    .flatMap(actionsOf)
    .filter((a) => !a.startsWith('logs:'));

describe('the packaged stack: launch guard, digest and dashboard', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('runs the launch guard on EC2 state changes to running (no CloudTrail needed)', () => {
    const rule = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('LaunchDashguardLambdaFunction') &&
        JSON.stringify(r.Properties?.EventPattern).includes('aws.ec2'),
    );

    expect(rule?.Properties?.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['running'] },
    });
    expect(fn('LaunchDashguardLambdaFunction').Role).toEqual({ 'Fn::GetAtt': ['LaunchGuardRole', 'Arn'] });
  });

  it('runs the launch guard when a notebook goes InService or a database is created or started, with the ids it reads', () => {
    const patterns = Object.values(template.Resources)
      .filter(
        (r) =>
          r.Type === 'AWS::Events::Rule' &&
          JSON.stringify(r.Properties?.Targets).includes('LaunchDashguardLambdaFunction'),
      )
      .map((r) => r.Properties?.EventPattern);

    expect(patterns).toContainEqual({
      source: ['aws.sagemaker'],
      'detail-type': [NOTEBOOK_STATE_DETAIL_TYPE],
      detail: { NotebookInstanceStatus: ['InService'] },
    });
    expect(patterns).toContainEqual({
      source: ['aws.rds'],
      'detail-type': [DB_INSTANCE_EVENT_DETAIL_TYPE, DB_CLUSTER_EVENT_DETAIL_TYPE],
      detail: { EventID: [...DB_STARTED_EVENT_IDS.instance, ...DB_STARTED_EVENT_IDS.cluster] },
    });
  });

  it('runs the digest on the policy schedule with its own role', () => {
    const rule = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('DigestLambdaFunction'),
    );

    expect(rule?.Properties?.ScheduleExpression).toBe('cron(0 8 * * ? *)');
    expect(fn('DigestLambdaFunction').Role).toEqual({ 'Fn::GetAtt': ['DigestRole', 'Arn'] });
  });

  it('gives the digest read-only EC2 access and exactly what its adapters declare', () => {
    const declared = [
      ...EC2_COSTS_PERMISSIONS.filter((a) => a !== 'ec2:DescribeSecurityGroups'),
      'ec2:DescribeInstanceTypes',
      'ec2:DescribeInstanceAttribute',
      'ec2:DescribeRegions',
      ...PRICING_PERMISSIONS,
      ...USAGE_STORE_PERMISSIONS,
      ...SNS_PERMISSIONS,
      ...SAGEMAKER_READ_PERMISSIONS,
      ...RDS_READ_PERMISSIONS,
      ...NAT_TRAFFIC_PERMISSIONS,
    ];

    expect(new Set(allowedBy('DigestRole'))).toEqual(new Set(declared));
  });

  it('lets the digest read metrics (what NAT gateways processed) in a statement of its own, and nothing else there', () => {
    const statements = roleStatements(template, 'DigestRole').filter((s) =>
      actionsOf(s).some((a) => a.startsWith('cloudwatch:')),
    );

    expect(statements).toEqual([
      { Sid: 'ReadNatGatewayTraffic', Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
    ]);
  });

  it('lets the launch guard read one instance, tag it and stop it, but never an exempt one', () => {
    const statements = roleStatements(template, 'LaunchGuardRole');
    const deny = statements.find((s) => s.Effect === 'Deny' && actionsOf(s).includes('ec2:StopInstances'));

    expect(new Set(allowedBy('LaunchGuardRole'))).toEqual(
      new Set([
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceTypes',
        'ec2:DescribeInstanceAttribute',
        'ec2:DescribeSecurityGroups',
        ...PRICING_PERMISSIONS,
        // its own tags: the warning, the stop record, the warning removed after an immediate stop
        'ec2:CreateTags',
        'ec2:DeleteTags',
        'ec2:StopInstances',
        ...SNS_PERMISSIONS,
        ...PROVISIONED_USERS_PERMISSIONS,
        'ec2:ModifyInstanceAttribute',
        // a notebook or database that started
        ...SAGEMAKER_READ_PERMISSIONS.filter((a) => a !== 'sagemaker:ListNotebookInstances'),
        'sagemaker:AddTags',
        'sagemaker:DeleteTags',
        'sagemaker:StopNotebookInstance',
        ...RDS_READ_PERMISSIONS,
        'rds:DescribeEvents',
        'rds:AddTagsToResource',
        'rds:RemoveTagsFromResource',
        'rds:StopDBInstance',
        'rds:StopDBCluster',
      ]),
    );
    expect(deny?.Condition).toEqual({
      StringEqualsIgnoreCase: { 'aws:ResourceTag/cost-watchdog:exempt': 'true' },
    });
  });

  it('lets the launch guard change one attribute only, stop protection, only to off, only on owned instances', () => {
    const modify = roleStatements(template, 'LaunchGuardRole').filter((s) =>
      actionsOf(s).includes('ec2:ModifyInstanceAttribute'),
    );

    expect(modify).toHaveLength(1);
    expect(actionsOf(modify[0] as never)).toEqual(['ec2:ModifyInstanceAttribute']);
    expect(modify[0]?.Condition).toEqual({
      StringEqualsIgnoreCase: { 'ec2:Attribute/DisableApiStop': 'false' },
      Null: { 'aws:ResourceTag/Owner': 'false' },
    });
  });

  it.each([
    ['ec2:DeleteTags', `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/i-0123456789abcdef0`],
    ['sagemaker:DeleteTags', `arn:aws:sagemaker:eu-west-1:${ACCOUNT}:notebook-instance/course-nb`],
    ['rds:RemoveTagsFromResource', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:course-db`],
  ])(
    'lets the launch guard remove only its own tags (%s): the warning after an immediate stop',
    async (action, resource) => {
      const role: PolicyDocument = {
        Version: '2012-10-17',
        // Its EC2, SageMaker and RDS statements (the others name stack resources by Ref).
        Statement: roleStatements(template, 'LaunchGuardRole')
          .filter((s) => actionsOf(s).every((x) => /^(ec2|sagemaker|rds):/.test(x)))
          .map((s) => ({ ...s, Resource: resolveSub(s.Resource) }) as unknown as Statement),
      };
      const verdict = async (keys: string[]) =>
        (await authorize([role], { action, resource, context: { 'aws:TagKeys': keys } })).verdict;

      expect(await verdict([TAGS.warnedAt, TAGS.warnRule])).toBe('allow');
      expect(await verdict(['Owner'])).toBe('implicit-deny');
      expect(await verdict([TAGS.warnedAt, TAGS.exempt.replace('cost-watchdog:', 'x-')])).toBe(
        'implicit-deny',
      );
    },
  );

  it('lets the launch guard read the users group and nothing else in IAM', () => {
    const iam = roleStatements(template, 'LaunchGuardRole').filter((s) =>
      actionsOf(s).some((a) => a.startsWith('iam:')),
    );

    expect(iam.flatMap((s) => actionsOf(s))).toEqual(['iam:GetGroup']);
    expect(JSON.stringify(iam[0]?.Resource)).toContain(':group/cost-watchdog/cost-watchdog-users');
  });

  it.each(['SweepRole', 'DigestRole'])(
    'lets %s keep the month counters only in /cost-watchdog/usage/ parameters',
    (role) => {
      const statements = roleStatements(template, role);
      const ssm = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('ssm:')));
      const usage = ssm.filter((s) => JSON.stringify(s.Resource).includes('parameter/cost-watchdog/usage/*'));

      expect(usage).toHaveLength(1);
      expect(actionsOf(usage[0] as never).sort()).toEqual([...USAGE_STORE_PERMISSIONS].sort());
      // no custom metrics any more: nothing grows per student on the bill
      expect(statements.flatMap(actionsOf)).not.toContain('cloudwatch:PutMetricData');
    },
  );

  it('has a dashboard of the functions, from the metrics Lambda publishes for free', () => {
    const body = JSON.stringify(fn('CostDashboard').DashboardBody);

    for (const fnName of ['sweep', 'digest', 'launch-guard', 'actions']) {
      expect(body).toContain(
        `\\"AWS/Lambda\\", \\"Errors\\", \\"FunctionName\\", \\"cost-watchdog-prod-${fnName}\\"`,
      );
    }
    expect(body).not.toContain('CostWatchdog');
  });
});
