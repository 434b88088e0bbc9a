/**
 * The GPU metrics role and instance profile of the packaged stack (resources/gpu-metrics-role.yml): what the
 * CloudWatch agent on a `--setup gpu` instance may do, who may assume it, and that its names are the ones
 * provision and the students' guardrail use.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NAMES } from '../../src/core/policy.js';
import { gpuMetricsRoleArn, type PolicyDocument } from '../../src/core/provisioning/guardrail.js';
import { ACCOUNT, authorize } from '../support/iam-simulator.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

let template: Template;
const props = (id: string) => template.Resources[id]?.Properties ?? {};
const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** The role's permissions as one policy document (the template's statements hold no intrinsics). */
const rolePolicy = (): PolicyDocument =>
  ({
    Version: '2012-10-17',
    Statement: roleStatements(template, 'GpuMetricsRole'),
  }) as unknown as PolicyDocument;

describe('the packaged stack: the GPU metrics role', () => {
  beforeAll(() => {
    template = packagedTemplate();
  }, 300_000);

  it('is named as provision and the guardrail expect: cost-watchdog-gpu-metrics under /cost-watchdog/', () => {
    expect(props('GpuMetricsRole')).toMatchObject({ RoleName: NAMES.gpuMetricsRole, Path: NAMES.iamPath });
    expect(gpuMetricsRoleArn()).toBe(
      `arn:aws:iam::*:role${NAMES.iamPath}${props('GpuMetricsRole').RoleName}`,
    );
  });

  it('may be assumed by EC2 only', () => {
    const trust = props('GpuMetricsRole').AssumeRolePolicyDocument as {
      Statement: Record<string, unknown>[];
    };
    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'ec2.amazonaws.com' },
      Action: 'sts:AssumeRole',
    });
    expect(JSON.stringify(trust)).not.toMatch(/lambda|AWS"|Federated|\*/);
  });

  it('may do one thing: cloudwatch:PutMetricData into the CWAgent namespace', () => {
    const statements = roleStatements(template, 'GpuMetricsRole');
    expect(statements.flatMap(actionsOf)).toEqual(['cloudwatch:PutMetricData']);
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Condition: { StringEquals: { 'cloudwatch:namespace': 'CWAgent' } },
      }),
    ]);
    expect(props('GpuMetricsRole')).not.toHaveProperty('ManagedPolicyArns');
    expect(props('GpuMetricsRole')).not.toHaveProperty('PermissionsBoundary');
    const attached = [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')].filter(([, r]) =>
      JSON.stringify(r.Properties?.Roles ?? []).includes('GpuMetricsRole'),
    );
    expect(attached).toEqual([]);
  });

  it.each([
    ['publishes the GPU series into CWAgent', 'cloudwatch:PutMetricData', 'CWAgent', 'allow'],
    ['publishes into AWS/EC2', 'cloudwatch:PutMetricData', 'AWS/EC2', 'implicit-deny'],
    ['publishes into the watchdog namespace', 'cloudwatch:PutMetricData', 'CostWatchdog', 'implicit-deny'],
    ['deletes an alarm', 'cloudwatch:DeleteAlarms', undefined, 'implicit-deny'],
    ['stops an instance', 'ec2:StopInstances', undefined, 'implicit-deny'],
  ])('as judged by the IAM simulator: the agent %s -> %s', async (_, action, namespace, verdict) => {
    const resource = action.startsWith('ec2:')
      ? `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0123456789abcdef0`
      : action === 'cloudwatch:DeleteAlarms'
        ? `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:cost-watchdog-errors`
        : '*';
    const context = namespace !== undefined ? { 'cloudwatch:namespace': namespace } : {};
    const outcome = await authorize([rolePolicy()], { action, resource, context });
    expect(outcome.verdict).toBe(verdict);
  });

  it('is the only role of its instance profile, cost-watchdog-gpu-metrics under /cost-watchdog/', () => {
    expect(ofType('AWS::IAM::InstanceProfile').map(([id]) => id)).toEqual(['GpuMetricsInstanceProfile']);
    expect(props('GpuMetricsInstanceProfile')).toEqual({
      InstanceProfileName: NAMES.gpuMetricsRole,
      Path: NAMES.iamPath,
      Roles: [{ Ref: 'GpuMetricsRole' }],
    });
  });

  it('lets provision read that instance profile and pass no role at all', () => {
    const provision = roleStatements(template, 'ProvisionRole').filter((s) => s.Effect === 'Allow');
    const reads = provision.filter((s) => actionsOf(s).includes('iam:GetInstanceProfile'));
    expect(reads).toHaveLength(1);
    expect(actionsOf(reads[0] ?? {})).toEqual(['iam:GetInstanceProfile']);
    const resources = [reads[0]?.Resource].flat().map((r) => (r as { 'Fn::Sub': string })['Fn::Sub']);
    expect(resources.map((r) => r.replace(/^.*:instance-profile/, 'instance-profile'))).toEqual([
      `instance-profile${NAMES.iamPath}${NAMES.gpuMetricsRole}`,
      `instance-profile/${NAMES.gpuMetricsRole}`,
    ]);
    expect(provision.flatMap(actionsOf).filter((a) => /PassRole|\*$/.test(a))).toEqual([]);
  });
});
