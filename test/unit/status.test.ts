/**
 * `cost-watchdog status`: what it concludes from the facts (pending emails, a disabled schedule, a failed or timed
 * out run, a rolled-back deploy, parts it may not read), when schedules fire next, and the whole command on mocked
 * SDK clients.
 */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { setAwsAccessCheck } from '../../src/cli/aws-access.js';
import { main } from '../../src/cli/main.js';
import { nextRun } from '../../src/core/schedule.js';
import {
  judgeStatus,
  type LocalPolicy,
  lastRunFromLog,
  STACK_FUNCTIONS,
  type StackFacts,
} from '../../src/core/status.js';

const NOW = new Date('2026-11-25T14:10:00Z');
const LOCAL: LocalPolicy = { source: './watchdog.yml', sha256: 'abc', dryRun: false };

/** A working stack deployed two days ago; tests change one fact each. */
function facts(change: Partial<StackFacts> = {}): StackFacts {
  return {
    stackName: 'cost-watchdog-prod',
    region: 'us-east-1',
    stack: { status: 'UPDATE_COMPLETE', updatedAt: new Date('2026-11-23T10:00:00Z') },
    functions: Object.fromEntries(
      STACK_FUNCTIONS.map((f) => [
        f.name,
        { name: `cost-watchdog-prod-${f.name}`, state: 'Active', policySha256: 'abc' },
      ]),
    ),
    subscriptions: [{ protocol: 'email', endpoint: 'admin@example.edu', pending: false }],
    sweepRule: { expression: 'rate(1 hour)', enabled: true },
    digestRule: { expression: 'cron(0 8 * * ? *)', enabled: true },
    lastSweep: { at: new Date('2026-11-25T14:00:00Z'), outcome: 'ok', summary: '3 seen', errors: [] },
    lastDigest: { at: new Date('2026-11-25T08:00:00Z'), outcome: 'ok', summary: 'sent', errors: [] },
    logWindowMs: { sweep: 3 * 3_600_000, digest: 49 * 3_600_000 },
    alarms: [],
    ...change,
  };
}

const attention = (f: StackFacts, local = LOCAL) =>
  judgeStatus(f, local, NOW, 'UTC')
    .checks.filter((c) => c.state === 'attention')
    .map((c) => `${c.check}: ${c.text}`);

describe('judgeStatus', () => {
  it('finds a working stack healthy', () => {
    const status = judgeStatus(facts(), LOCAL, NOW, 'UTC');

    expect(status.healthy).toBe(true);
    expect(status.checks.find((c) => c.check === 'next sweep')?.text).toBe(
      'Wed 25 Nov 15:00 (UTC) (in 50 min) (rate(1 hour))',
    );
  });

  it.each<[string, Partial<StackFacts>, LocalPolicy | undefined, RegExp]>([
    [
      'the admin email is still pending',
      {
        subscriptions: [
          { protocol: 'email', endpoint: 'admin@example.edu', pending: true },
          { protocol: 'email', endpoint: 'alice@example.edu', pending: false, owner: 'alice' },
        ],
      },
      undefined,
      /^email: no confirmed admin email: alerts reach nobody\. Open the email "AWS Notification - Subscription Confirmation" \(check spam\).*; 1 student subscription\(s\) confirmed; 1 pending \(admin@example\.edu\)$/,
    ],
    [
      'the schedule is disabled',
      { sweepRule: { expression: 'rate(1 hour)', enabled: false } },
      undefined,
      /^next sweep: the schedule rate\(1 hour\) is DISABLED: nothing is swept/,
    ],
    [
      'the last sweep failed',
      {
        lastSweep: {
          at: new Date('2026-11-25T14:00:00Z'),
          outcome: 'failed',
          summary: 'failed: ConfigError: environment variable TOPIC_ARN is not set',
          errors: [],
        },
      },
      undefined,
      /^last sweep: Wed 25 Nov 14:00 \(UTC\) \(10 min ago\): failed: ConfigError: .*Details: npx serverless logs -f sweep$/,
    ],
    [
      'no sweep ran for a long time',
      { lastSweep: undefined },
      undefined,
      /^last sweep: no sweep in its log for the last 3 h/,
    ],
    [
      'the last deploy was rolled back',
      { stack: { status: 'UPDATE_ROLLBACK_COMPLETE', reason: 'Resource failed', updatedAt: NOW } },
      undefined,
      /^stack: cost-watchdog-prod: UPDATE_ROLLBACK_COMPLETE \(Resource failed\): the last deploy failed/,
    ],
    [
      'a function is missing',
      { functions: { ...facts().functions, actions: undefined } },
      undefined,
      /^functions: missing: actions: run `npx serverless deploy` again$/,
    ],
    [
      'the logs may not be read',
      { lastSweep: { failed: 'AccessDeniedException: not authorized to perform logs:FilterLogEvents' } },
      undefined,
      /^last sweep: cannot read the sweep's log: AccessDeniedException/,
    ],
    [
      'the local policy is invalid',
      {},
      { source: './watchdog.yml', sha256: 'x', problem: 'invalid (graceMinutes: ...)' },
      /^policy: \.\/watchdog\.yml: invalid/,
    ],
  ])('needs attention when %s', (_case, change, local, line) => {
    const lines = attention(facts(change), local);

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });

  it('stops at a missing stack, with how to deploy one', () => {
    const status = judgeStatus(facts({ stack: undefined }), LOCAL, NOW, 'UTC');

    expect(status.healthy).toBe(false);
    expect(status.checks).toHaveLength(1);
    expect(status.checks[0]?.text).toContain('npx serverless deploy --param alertEmail=');
  });
});

describe('lastRunFromLog', () => {
  const id = '6f1c2b3a-1111-4222-8333-444455556666';
  const at = (minute: number) => Date.parse(`2026-11-25T14:${String(minute).padStart(2, '0')}:00Z`);
  const summary = (minute: number, errors: unknown[] = []) => ({
    timestamp: at(minute),
    message: `2026-11-25T14:0${minute}:00.000Z\t${id}\tINFO\t${JSON.stringify({ level: 'info', message: 'sweep: 2 seen, 0 warned, 0 stopped, 0 errors', report: { errors } })}`,
  });

  it('reads the summary line of the last run', () => {
    const run = lastRunFromLog([summary(1)], 'sweep');

    expect(run).toEqual({
      at: new Date(at(1)),
      outcome: 'ok',
      summary: '2 seen, 0 warned, 0 stopped, 0 errors',
      errors: [],
    });
  });

  it('keeps the summary of a run that logged its errors and then threw', () => {
    const run = lastRunFromLog(
      [
        summary(1, [{ region: 'eu-west-1', operation: 'ec2:StopInstances', message: 'denied' }]),
        {
          timestamp: at(2),
          message: `2026-11-25T14:02:00.000Z\t${id}\tERROR\tInvoke Error \t{"errorType":"SweepIncompleteError","errorMessage":"sweep finished with 1 error(s)"}`,
        },
      ],
      'sweep',
    );

    expect(run?.outcome).toBe('errors');
    expect(run?.errors).toEqual(['eu-west-1 ec2:StopInstances: denied']);
  });

  it('says why a run failed before it could log a summary', () => {
    const run = lastRunFromLog(
      [
        summary(1),
        {
          timestamp: at(5),
          message: `2026-11-25T14:05:00.000Z\t9e9e9e9e-0000-4000-8000-000000000000\tERROR\tInvoke Error \t{"errorType":"PolicyError","errorMessage":"watchdog.yml is invalid"}`,
        },
      ],
      'sweep',
    );

    expect(run).toMatchObject({ outcome: 'failed', summary: 'failed: PolicyError: watchdog.yml is invalid' });
  });

  it('says when a run timed out', () => {
    const run = lastRunFromLog(
      [
        {
          timestamp: at(6),
          message:
            '2026-11-25T14:06:00.000Z 9e9e9e9e-0000-4000-8000-000000000000 Task timed out after 300.03 seconds',
        },
      ],
      'sweep',
    );

    expect(run).toMatchObject({ outcome: 'timeout', summary: 'timed out after 300 s' });
  });

  it('finds no run in lines of another kind', () => {
    expect(
      lastRunFromLog([{ timestamp: at(1), message: 'REPORT RequestId: x Duration: 3 ms' }], 'sweep'),
    ).toBe(undefined);
  });
});

describe('nextRun', () => {
  it.each([
    ['cron(0 8 * * ? *)', '2026-11-25T14:10:00Z', '2026-11-26T08:00:00.000Z'],
    ['cron(0 8 * * ? *)', '2026-11-25T07:59:00Z', '2026-11-25T08:00:00.000Z'],
    ['cron(30 7 ? * MON-FRI *)', '2026-11-27T08:00:00Z', '2026-11-30T07:30:00.000Z'],
    ['cron(0/15 * * * ? *)', '2026-11-25T14:10:00Z', '2026-11-25T14:15:00.000Z'],
    ['cron(0 9 1 * ? *)', '2026-11-25T14:10:00Z', '2026-12-01T09:00:00.000Z'],
    ['cron(0 12 ? * 1 *)', '2026-11-25T14:10:00Z', '2026-11-29T12:00:00.000Z'],
  ])('%s after %s is %s', (expression, after, next) => {
    expect(nextRun(expression, new Date(after))?.toISOString()).toBe(next);
  });

  it('counts a rate from the last run', () => {
    expect(nextRun('rate(2 hours)', NOW, new Date('2026-11-25T13:00:00Z'))?.toISOString()).toBe(
      '2026-11-25T15:00:00.000Z',
    );
    expect(nextRun('rate(1 hour)', NOW)).toBe(undefined);
  });

  it('does not guess at cron fields it does not read', () => {
    expect(nextRun('cron(0 8 L * ? *)', NOW)).toBe(undefined);
  });
});

describe('cost-watchdog status on the SDK', () => {
  const sts = mockClient(STSClient);
  const cfn = mockClient(CloudFormationClient);
  const lambda = mockClient(LambdaClient);
  const sns = mockClient(SNSClient);
  const events = mockClient(EventBridgeClient);
  const logs = mockClient(CloudWatchLogsClient);
  const cloudwatch = mockClient(CloudWatchClient);
  const topicArn = 'arn:aws:sns:us-east-1:123456789012:cost-watchdog-prod-alerts';

  beforeEach(() => {
    for (const m of [sts, cfn, lambda, sns, events, logs, cloudwatch]) m.reset();
    setAwsAccessCheck('sts');
    sts
      .on(GetCallerIdentityCommand)
      .resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/admin' });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'cost-watchdog-prod',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date('2026-11-01T00:00:00Z'),
          Outputs: [{ OutputKey: 'AlertTopicArn', OutputValue: topicArn }],
        },
      ],
    });
    cfn.on(ListStackResourcesCommand).resolves({
      StackResourceSummaries: [
        ...STACK_FUNCTIONS.map((f) => ({
          LogicalResourceId: f.logicalId,
          PhysicalResourceId: `cost-watchdog-prod-${f.name}`,
          ResourceType: 'AWS::Lambda::Function',
          ResourceStatus: 'UPDATE_COMPLETE' as const,
          LastUpdatedTimestamp: new Date(),
        })),
        {
          LogicalResourceId: 'SweepEventsRuleSchedule1',
          PhysicalResourceId: 'cost-watchdog-prod-SweepEventsRuleSchedule1-ABC',
          ResourceType: 'AWS::Events::Rule',
          ResourceStatus: 'UPDATE_COMPLETE' as const,
          LastUpdatedTimestamp: new Date(),
        },
      ],
    });
    lambda
      .on(GetFunctionConfigurationCommand)
      .resolves({ State: 'Active', Environment: { Variables: { POLICY_SHA256: 'none' } } });
    events.on(DescribeRuleCommand).resolves({ ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
  });

  it('says the admin must confirm a pending subscription, and what it may not read', async () => {
    // Prepare
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [
        { Protocol: 'email', Endpoint: 'admin@example.edu', SubscriptionArn: 'PendingConfirmation' },
      ],
    });
    logs.on(FilterLogEventsCommand).rejects(
      Object.assign(new Error('not authorized to perform: logs:FilterLogEvents'), {
        name: 'AccessDeniedException',
      }),
    );
    const out: string[] = [];

    // Act
    const code = await main(['status', '--policy', '/nonexistent/cw/watchdog.yml'], {
      out: (t) => out.push(t),
      err: (t) => out.push(t),
      env: {},
    });

    // Assess
    const text = out.join('\n');
    expect(code).toBe(1);
    expect(text).toContain('!!  email        no confirmed admin email: alerts reach nobody.');
    expect(text).toContain('1 pending (admin@example.edu)');
    expect(text).toContain(
      "!!  last sweep   cannot read the sweep's log: AccessDeniedException: not authorized",
    );
    expect(text).toContain('!!  policy       /nonexistent/cw/watchdog.yml: not found');
    expect(sns).not.toHaveReceivedCommand(GetSubscriptionAttributesCommand);
    expect(lambda).toHaveReceivedCommandTimes(GetFunctionConfigurationCommand, 5);
  });
});

describe('the IAM permissions status needs', () => {
  it('are all listed in the README', async () => {
    const { readFileSync } = await import('node:fs');
    const { STATUS_PERMISSIONS } = await import('../../src/aws/stack-status.js');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

    for (const action of STATUS_PERMISSIONS) expect(readme).toContain(`\`${action}\``);
  });
});

describe('the sweep log line status reads', () => {
  it('is what the sweep handler writes, as Lambda stores it', async () => {
    // Prepare: a real handler run whose stop fails, its log record captured
    const { createSweepHandler } = await import('../../src/handlers/sweep.js');
    const { InMemoryFleet, awsError } = await import('./in-memory-fleet.js');
    const { hoursAgo, idleMetrics, makeInstance, NOW: at } = await import('../support/fleet.js');
    const { policyFile } = await import('../support/policy-file.js');
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    const instance = makeInstance({ tags: { 'cost-watchdog:warned-at': hoursAgo(2) } });
    fleet.add({ instance, state: 'running', stopProtected: false });
    fleet.metrics.set(instance.instanceId, idleMetrics());
    fleet.fault = (op) => (op === 'stop' ? awsError('UnauthorizedOperation', 'not allowed') : undefined);
    const records: unknown[] = [];
    const handler = createSweepHandler({
      clock: () => at,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
        POLICY_FILE: policyFile('regions: [us-east-1]\n'),
      },
      services: fleet.services(),
      notifier: { publish: async () => 'id' } as never,
      log: (r) => records.push(r),
    });
    await handler({}).catch(() => undefined);
    const line = `${at.toISOString()}\t0f0f0f0f-1111-4222-8333-444455556666\tERROR\t${JSON.stringify(records[0])}`;

    // Act
    const run = lastRunFromLog([{ timestamp: at.getTime(), message: line }], 'sweep');

    // Assess
    expect(run).toMatchObject({ outcome: 'errors', summary: '1 seen, 0 warned, 0 stopped, 1 errors' });
    expect(run?.errors[0]).toMatch(/^us-east-1 i-\w+ ec2:StopInstances: UnauthorizedOperation: not allowed$/);
  });
});
