/**
 * The fan-out as packaged (docs/scale.md, "Fan-out"): when the stack has it, its queues and dead-letter queue, the
 * worker's trigger and its concurrency, the worker's role (the sweep's kind permissions, its queues, the member roles),
 * and the launch guard in every region: resources/forwarder.yml forwards what the launch guard's rules listen to, and
 * the default bus admits the member accounts' forwarded events. Each case packages the stack with its own watchdog.yml.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, type Tags } from 'yaml';
import { CLOUDWATCH_SWEEP_PERMISSIONS } from '../../src/aws/cloudwatch.js';
import { EC2_MORNING_START_PERMISSIONS, EC2_SWEEP_PERMISSIONS } from '../../src/aws/ec2.js';
import { FAN_OUT_WORKER_PERMISSIONS } from '../../src/aws/fan-out-queue.js';
import { RDS_SWEEP_PERMISSIONS } from '../../src/aws/rds.js';
import { SAGEMAKER_SWEEP_PERMISSIONS } from '../../src/aws/sagemaker.js';
import { STS_PERMISSIONS } from '../../src/aws/sts.js';
import { TARGET_ATTEMPTS } from '../../src/core/fan-out.js';
import {
  SWEEP_TIMEOUT_SECONDS,
  TARGETS_VISIBILITY_SECONDS,
  WORKER_TIMEOUT_SECONDS,
} from '../../src/core/fan-out-deployment.js';
import { DB_STARTED_EVENT_IDS } from '../../src/core/launch-event.js';
import { TAGS } from '../../src/core/policy.js';
import {
  actionsOf,
  type CfnResource,
  packagedTemplate,
  roleStatements,
  type Template,
} from '../support/packaged-template.js';

const SINGLE_ACCOUNT = 'regions: [us-east-1]\n';
const MEMBER = '111122223333';
const WITH_ACCOUNTS = `accounts:\n  - id: "${MEMBER}"\n`;
const ON_TUNED = 'fanOut:\n  mode: on\n  concurrency: 25\n  batchSize: 4\n';
const OFF_WITH_ACCOUNTS = `fanOut:\n  mode: off\n${WITH_ACCOUNTS}`;
const ORG_ID = 'o-a1b2c3d4e5';

const FAN_OUT_RESOURCES = [
  'TargetsQueue',
  'TargetsDeadLetterQueue',
  'ResultsQueue',
  'SweepWorkerRole',
  'SweepDashworkerLambdaFunction',
  'SweepWorkerErrorsAlarm',
];

const props = (template: Template, id: string) => template.Resources[id]?.Properties ?? {};
const ofType = (template: Template, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const envOf = (template: Template, fn: string) =>
  (props(template, fn).Environment as { Variables: Record<string, unknown> }).Variables;

/** The sweep-worker's SQS trigger (event source mapping). */
function workerTrigger(template: Template): Record<string, unknown> | undefined {
  const mappings = ofType(template, 'AWS::Lambda::EventSourceMapping');
  expect(mappings).toHaveLength(1);
  return mappings[0]?.[1].Properties;
}

describe('the fan-out in the packaged stack', () => {
  it.each([
    ['one account (fanOut.mode auto)', SINGLE_ACCOUNT],
    ['member accounts with fanOut.mode off', OFF_WITH_ACCOUNTS],
  ])(
    'is absent for %s: no queue, no worker, no trigger, the sweep keeps its 300 s',
    (_, policy) => {
      // Act
      const template = packagedTemplate({}, { policy });

      // Assess
      for (const id of FAN_OUT_RESOURCES) expect(template.Resources[id], id).toBeUndefined();
      expect(ofType(template, 'AWS::SQS::Queue')).toEqual([]);
      expect(ofType(template, 'AWS::Lambda::EventSourceMapping')).toEqual([]);
      expect(props(template, 'SweepLambdaFunction').Timeout).toBe(SWEEP_TIMEOUT_SECONDS.single);
      expect(envOf(template, 'SweepLambdaFunction').FAN_OUT).toBe('off');
      // Nothing may be sent to a queue.
      expect(
        roleStatements(template, 'SweepRole').filter((s) => actionsOf(s).includes('sqs:SendMessage')),
      ).toEqual([{ Sid: 'NoFanOut', Effect: 'Deny', Action: 'sqs:SendMessage', Resource: '*' }]);
    },
    300_000,
  );

  it('with member accounts has a targets queue that dead-letters a target after TARGET_ATTEMPTS receives', () => {
    // Act
    const template = packagedTemplate({}, { policy: WITH_ACCOUNTS });

    // Assess
    for (const id of FAN_OUT_RESOURCES) expect(template.Resources[id], id).toBeDefined();
    const targets = props(template, 'TargetsQueue');
    expect(targets.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['TargetsDeadLetterQueue', 'Arn'] },
      maxReceiveCount: TARGET_ATTEMPTS,
    });
    // Lambda requires the queue's visibility timeout to be at least the function's timeout.
    expect(targets.VisibilityTimeout).toBe(TARGETS_VISIBILITY_SECONDS);
    expect(props(template, 'SweepDashworkerLambdaFunction').Timeout).toBe(WORKER_TIMEOUT_SECONDS);
    expect(Number(targets.VisibilityTimeout)).toBeGreaterThan(WORKER_TIMEOUT_SECONDS);
    // The dead-letter queue keeps what failed longer than a target waits to be swept.
    expect(Number(props(template, 'TargetsDeadLetterQueue').MessageRetentionPeriod)).toBeGreaterThan(
      Number(targets.MessageRetentionPeriod),
    );
    // The results queue hides a result it handed to the summary for longer than the sweep may run.
    expect(Number(props(template, 'ResultsQueue').VisibilityTimeout)).toBeGreaterThan(
      SWEEP_TIMEOUT_SECONDS.fanOut,
    );
    for (const [id, q] of ofType(template, 'AWS::SQS::Queue')) {
      expect(q.Properties?.SqsManagedSseEnabled, id).toBe(true);
    }
    expect(props(template, 'SweepLambdaFunction').Timeout).toBe(SWEEP_TIMEOUT_SECONDS.fanOut);
    expect(envOf(template, 'SweepLambdaFunction')).toMatchObject({
      FAN_OUT: 'on',
      TARGETS_QUEUE_URL: { Ref: 'TargetsQueue' },
      RESULTS_QUEUE_URL: { Ref: 'ResultsQueue' },
      DEAD_LETTER_QUEUE_URL: { Ref: 'TargetsDeadLetterQueue' },
    });
  }, 300_000);

  it.each([
    ['the defaults (member accounts, mode auto)', WITH_ACCOUNTS, { batch: 10, concurrency: 10 }],
    ['fanOut.mode on, concurrency 25, batchSize 4', ON_TUNED, { batch: 4, concurrency: 25 }],
  ])(
    'triggers the worker from the targets queue with partial batch failures and bounded concurrency: %s',
    (_, policy, expected) => {
      // Act
      const template = packagedTemplate({}, { policy });

      // Assess
      expect(workerTrigger(template)).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': ['TargetsQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['SweepDashworkerLambdaFunction', 'Arn'] },
        Enabled: true,
        BatchSize: expected.batch,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: expected.concurrency },
      });
      expect(props(template, 'SweepDashworkerLambdaFunction').Role).toEqual({
        'Fn::GetAtt': ['SweepWorkerRole', 'Arn'],
      });
    },
    300_000,
  );

  it('alarms the admin when a worker invocation fails as a whole', () => {
    const template = packagedTemplate({}, { policy: WITH_ACCOUNTS });

    expect(props(template, 'SweepWorkerErrorsAlarm')).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'SweepDashworkerLambdaFunction' } }],
      AlarmActions: [{ Ref: 'AlertTopic' }],
    });
  }, 300_000);
});

describe("the sweep-worker's role", () => {
  const template = () => packagedTemplate({}, { policy: WITH_ACCOUNTS });
  const worker = () => roleStatements(template(), 'SweepWorkerRole');
  const isKindStatement = (s: Record<string, unknown>) =>
    actionsOf(s).every((a) => /^(ec2|sagemaker|rds|cloudwatch):/.test(a));

  it('allows exactly what the sweep adapters declare, its queues and the member roles: no SNS, SSM or Organizations', () => {
    // Act
    const allowed = worker()
      .filter((s) => s.Effect === 'Allow')
      .flatMap(actionsOf);

    // Assess
    expect(new Set(allowed.filter((a) => !a.startsWith('logs:')))).toEqual(
      new Set([
        ...EC2_SWEEP_PERMISSIONS,
        ...SAGEMAKER_SWEEP_PERMISSIONS,
        ...RDS_SWEEP_PERMISSIONS,
        ...CLOUDWATCH_SWEEP_PERMISSIONS,
        ...FAN_OUT_WORKER_PERMISSIONS,
        ...STS_PERMISSIONS,
      ]),
    );
    // The morning start is denied unless quietHours.morningStart says otherwise, as for the sweep.
    const start = worker().filter((s) =>
      actionsOf(s).some((a) => EC2_MORNING_START_PERMISSIONS.includes(a as never)),
    );
    expect(start.map((s) => s.Effect)).toEqual(['Deny']);
  }, 300_000);

  it("has every EC2, SageMaker, RDS and CloudWatch statement of the sweep's role, word for word", () => {
    // Act
    const sweepKinds = roleStatements(template(), 'SweepRole').filter(isKindStatement);
    const workerKinds = worker().filter(isKindStatement);

    // Assess: the same reads, own-tags-only writes, stops, and denies on exempt resources
    expect(sweepKinds.length).toBeGreaterThan(10);
    expect(workerKinds).toEqual(sweepKinds);
  }, 300_000);

  it('never stops an exempt instance, notebook or database, and never deletes or snapshots one', () => {
    const statements = worker();
    const denied = (action: string) =>
      statements.find((s) => s.Effect === 'Deny' && actionsOf(s).includes(action))?.Condition;
    const allowed = statements.filter((s) => s.Effect === 'Allow').flatMap(actionsOf);

    for (const action of [
      'ec2:StopInstances',
      'sagemaker:StopNotebookInstance',
      'rds:StopDBInstance',
      'rds:StopDBCluster',
    ]) {
      expect(denied(action), action).toEqual({
        StringEqualsIgnoreCase: { [`aws:ResourceTag/${TAGS.exempt}`]: 'true' },
      });
    }
    expect(
      allowed.filter(
        (a) =>
          /^(sagemaker|rds):(Delete|Create|Modify|Update|Reboot|Failover)/.test(a) ||
          /Snapshot|Terminate/.test(a),
      ),
    ).toEqual(['sagemaker:DeleteTags']);
  }, 300_000);

  it('reads only the targets queue and sends only to the results queue', () => {
    const sqs = worker().filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));

    expect(sqs).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ChangeMessageVisibility',
        ],
        Resource: { 'Fn::GetAtt': ['TargetsQueue', 'Arn'] },
      }),
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['ResultsQueue', 'Arn'] },
      }),
    ]);
  }, 300_000);

  it("may assume only the listed account's member role (test/unit/template-member-access.test.ts covers the organization)", () => {
    const sts = worker().filter((s) => actionsOf(s).some((a) => a.startsWith('sts:')));

    expect(sts).toEqual([
      {
        Sid: 'AssumeListedMemberRoles',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Resource: [
          { 'Fn::Sub': `arn:\${AWS::Partition}:iam::${MEMBER}:role/cost-watchdog/cost-watchdog-member` },
        ],
      },
    ]);
  }, 300_000);
});

/** CloudFormation short-form tags, read as their long form. */
const cfnTags: Tags = ['Sub', 'Ref', 'GetAtt'].map((name) => ({
  tag: `!${name}`,
  resolve: (value: string) => ({ [name === 'Ref' ? 'Ref' : `Fn::${name}`]: value }),
}));

const forwarder = parse(readFileSync('resources/forwarder.yml', 'utf8'), { customTags: cfnTags }) as {
  Resources: Record<string, CfnResource>;
};

/** An event pattern as one comparable string. */
const patternKey = (pattern: unknown) => JSON.stringify(pattern);

describe('the launch guard in every region (resources/forwarder.yml)', () => {
  const rules = Object.entries(forwarder.Resources).filter(([, r]) => r.Type === 'AWS::Events::Rule');
  const WATCHDOG_BUS = {
    'Fn::Sub': 'arn:${AWS::Partition}:events:${WatchdogRegion}:${WatchdogAccountId}:event-bus/default',
  };

  it("forwards exactly the events the launch guard's rules in the stack listen to", () => {
    // Prepare: the launch guard's rules as packaged
    const template = packagedTemplate({}, { policy: WITH_ACCOUNTS });
    const guardPatterns = ofType(template, 'AWS::Events::Rule')
      .filter(([, r]) => JSON.stringify(r.Properties?.Targets).includes('LaunchDashguardLambdaFunction'))
      .map(([, r]) => patternKey(r.Properties?.EventPattern));

    // Act
    const forwarded = rules.map(([, r]) => patternKey(r.Properties?.EventPattern));

    // Assess
    expect(guardPatterns).toHaveLength(3);
    expect(forwarded.sort()).toEqual(guardPatterns.sort());
    const rds = rules
      .map(([, r]) => r.Properties?.EventPattern as { source: string[]; detail: { EventID?: string[] } })
      .find((p) => p.source.includes('aws.rds'));
    expect([...(rds?.detail.EventID ?? [])].sort()).toEqual(
      [...DB_STARTED_EVENT_IDS.instance, ...DB_STARTED_EVENT_IDS.cluster].sort(),
    );
  }, 300_000);

  it("sends every rule's events to the watchdog's default bus only, with a role that may do nothing else", () => {
    const role = forwarder.Resources.ForwardRole?.Properties ?? {};
    const policies = role.Policies as { PolicyDocument: { Statement: Record<string, unknown>[] } }[];
    const trust = (role.AssumeRolePolicyDocument as { Statement: Record<string, unknown>[] }).Statement;

    for (const [id, r] of rules) {
      expect(r.Properties?.State, id).toBe('ENABLED');
      expect(r.Properties?.Targets, id).toEqual([
        {
          Id: 'cost-watchdog-launch-guard',
          Arn: WATCHDOG_BUS,
          RoleArn: { 'Fn::GetAtt': 'ForwardRole.Arn' },
        },
      ]);
    }
    expect(policies.flatMap((p) => p.PolicyDocument.Statement)).toEqual([
      { Sid: 'WatchdogBusOnly', Effect: 'Allow', Action: 'events:PutEvents', Resource: WATCHDOG_BUS },
    ]);
    expect(trust).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
  });

  it('lets the listed member accounts put events on the default bus, and nobody without member accounts', () => {
    // Act
    const members = packagedTemplate({}, { policy: WITH_ACCOUNTS });
    const single = packagedTemplate({}, { policy: SINGLE_ACCOUNT });

    // Assess
    expect(ofType(single, 'AWS::Events::EventBusPolicy')).toEqual([]);
    const policies = ofType(members, 'AWS::Events::EventBusPolicy');
    expect(policies.map(([id]) => id)).toEqual(['ForwardedLaunchesFromMemberAccounts']);
    expect(policies[0]?.[1].Properties?.Statement).toEqual({
      Effect: 'Allow',
      Principal: { AWS: [{ 'Fn::Sub': `arn:\${AWS::Partition}:iam::${MEMBER}:root` }] },
      Action: 'events:PutEvents',
      Resource: {
        'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default',
      },
    });
  }, 300_000);

  it('with organization: true and --param organizationId lets only that organization put events on the bus', () => {
    // Act
    const template = packagedTemplate({ organizationId: ORG_ID }, { policy: 'organization: true\n' });

    // Assess
    const policies = ofType(template, 'AWS::Events::EventBusPolicy');
    expect(policies.map(([id]) => id)).toEqual(['ForwardedLaunchesFromOrganization']);
    expect(policies[0]?.[1].Properties?.Statement).toMatchObject({
      Effect: 'Allow',
      Principal: '*',
      Action: 'events:PutEvents',
      Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG_ID } },
    });
  }, 300_000);
});
