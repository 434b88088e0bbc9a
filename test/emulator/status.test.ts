import { UsageStore } from '../../src/aws/usage-store.js';
import { monthBounds } from '../../src/core/usage.js';
/**
 * `cost-watchdog status` against a stack-shaped emulator state: a CloudFormation stack cost-watchdog-prod in moto
 * with the stack's logical ids (alert topic and output, five functions carrying POLICY_SHA256, the sweep and digest
 * schedule rules), the topic's email subscriptions, the functions' log lines as the handlers write them, and the
 * stack's alarms. Deploying the packaged template itself needs what moto does not model (function URLs, KMS key
 * policies, alarms through CloudFormation), so the pieces status reads are created directly.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/aws/clients.js';
import type { StackStatus } from '../../src/core/status.js';
import { cli, policyFile } from './sweep-scenario.js';
import { clients, resetEmulator, target } from './support.js';

const REGION = 'us-east-1';
const STACK = 'cost-watchdog-prod';
const config = () => clientConfig(target(REGION));
const FUNCTIONS = {
  SweepLambdaFunction: 'sweep',
  LaunchDashguardLambdaFunction: 'launch-guard',
  DigestLambdaFunction: 'digest',
  ProvisionLambdaFunction: 'provision',
  ActionsLambdaFunction: 'actions',
};

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The stack as `serverless deploy` leaves it, for what status reads; its functions carry `policyHash`. */
async function deployStack(policyHash: string): Promise<string> {
  const resources: Record<string, unknown> = {
    AlertTopic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: `${STACK}-alerts` } },
    Role: {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: `${STACK}-role`,
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        },
      },
    },
    SweepEventsRuleSchedule1: {
      Type: 'AWS::Events::Rule',
      Properties: { ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' },
    },
    DigestEventsRuleSchedule1: {
      Type: 'AWS::Events::Rule',
      Properties: { ScheduleExpression: 'cron(0 8 * * ? *)', State: 'ENABLED' },
    },
  };
  for (const [logicalId, name] of Object.entries(FUNCTIONS)) {
    resources[logicalId] = {
      Type: 'AWS::Lambda::Function',
      Properties: {
        FunctionName: `${STACK}-${name}`,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Role: { 'Fn::GetAtt': ['Role', 'Arn'] },
        Code: { ZipFile: 'exports.handler = async () => ({})' },
        Environment: { Variables: { POLICY_SHA256: policyHash, TOPIC_ARN: { Ref: 'AlertTopic' } } },
      },
    };
  }
  await new CloudFormationClient(config()).send(
    new CreateStackCommand({
      StackName: STACK,
      TemplateBody: JSON.stringify({
        Resources: resources,
        Outputs: { AlertTopicArn: { Value: { Ref: 'AlertTopic' } } },
      }),
    }),
  );
  const topicArn = `arn:aws:sns:${REGION}:123456789012:${STACK}-alerts`;
  const sns = new SNSClient(config());
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'email',
      Endpoint: 'admin@example.edu',
      Attributes: { FilterPolicy: JSON.stringify({ owner: [{ exists: false }] }) },
    }),
  );
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'email',
      Endpoint: 'alice@example.edu',
      Attributes: { FilterPolicy: JSON.stringify({ owner: ['alice'] }) },
    }),
  );
  const cloudwatch = new CloudWatchClient(config());
  for (const alarm of ['sweep-errors', 'digest-errors']) {
    await cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: `${STACK}-${alarm}`,
        AlarmDescription: `The cost-watchdog ${alarm.replace('-errors', '')} failed.`,
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      }),
    );
  }
  return topicArn;
}

/** A log line of a function, as Lambda's Node.js runtime writes a handler's console.log, `minutesAgo` ago. */
async function logLine(fn: string, minutesAgo: number, record: Record<string, unknown>): Promise<void> {
  const logs = new CloudWatchLogsClient(config());
  const group = `/aws/lambda/${STACK}-${fn}`;
  await logs.send(new CreateLogGroupCommand({ logGroupName: group })).catch(() => undefined);
  const stream = `2026/11/29/[$LATEST]${minutesAgo}`;
  await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
  const at = Date.now() - minutesAgo * 60_000;
  await logs.send(
    new PutLogEventsCommand({
      logGroupName: group,
      logStreamName: stream,
      logEvents: [
        {
          timestamp: at,
          message: `${new Date(at).toISOString()}\t1b2c3d4e-0000-4000-8000-${String(minutesAgo).padStart(12, '0')}\tINFO\t${JSON.stringify({ time: new Date(at).toISOString(), ...record })}`,
        },
      ],
    }),
  );
}

const sweepRecord = (errors: { region: string; operation: string; message: string }[] = []) => ({
  level: errors.length ? 'error' : 'info',
  message: `sweep: 3 seen, 1 warned, 0 stopped, ${errors.length} errors`,
  report: { dryRun: false, errors },
});

let policy: string;

beforeEach(async () => {
  await resetEmulator();
  policy = policyFile(`regions: [${REGION}]\ntimeZone: Europe/Berlin\n`);
});

describe('cost-watchdog status', () => {
  it('says all is well, line by line, for a working stack (exit status 0)', async () => {
    // Prepare: this month, sweeps have recorded 20 instances running 10 h each
    await deployStack(sha256(policy));
    const now = new Date();
    await new UsageStore(clients(REGION).ssm).recordSweep(
      {
        months: [
          {
            month: monthBounds(now).start.toISOString(),
            at: now,
            instanceHours: 200,
            freeTierHours: 200,
            estimatedUsd: 2,
            byOwner: { alice: { hours: 100, usd: 1 }, bob: { hours: 100, usd: 1 } },
          },
        ],
        instancesRunning: 20,
        unpriced: [],
      },
      0,
      now,
    );
    await logLine('sweep', 20, sweepRecord());
    await logLine('digest', 300, {
      level: 'info',
      message: 'digest: 4 running, 0 errors, sent',
      summary: { errors: [], sent: true },
    });

    // Act
    const { code, out, err } = await cli('status', '--policy', policy, '--region', REGION);

    // Assess
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(
      /^cost-watchdog status: stack cost-watchdog-prod in us-east-1 \(account 123456789012\)/,
    );
    expect(out).toMatch(/^ok +stack +cost-watchdog-prod: CREATE_COMPLETE, deployed .* \(Europe\/Berlin\)/m);
    expect(out).toMatch(/^ok +functions +sweep, launch-guard, digest, provision, actions$/m);
    expect(out).toMatch(/^ok +policy +deployed policy = .*\.yml$/m);
    expect(out).toMatch(
      /^ok +email +admin admin@example\.edu confirmed; 1 student subscription\(s\) confirmed$/m,
    );
    expect(out).toMatch(
      /^ok +last sweep +.* \(Europe\/Berlin\) \(20 min ago\): 3 seen, 1 warned, 0 stopped, 0 errors$/m,
    );
    expect(out).toMatch(/^ +next sweep +.* \(in 40 min\) \(rate\(1 hour\)\)$/m);
    expect(out).toMatch(/^ok +last digest .* \(5 h ago\): 4 running, 0 errors, sent$/m);
    expect(out).toMatch(/^ok +alarms +none in ALARM$/m);
    // what the stack itself costs at this month's fleet: nothing after the free tiers
    expect(out).toMatch(
      /^ +own cost +about \$0\.00\/month after the AWS free tier \(\$\d+\.\d\d at list price\); by item/m,
    );
    expect(out).toMatch(/All well\.$/);
  });

  it('names what needs attention and exits 1: changed policy, sweep errors, an alarm', async () => {
    // Prepare
    await deployStack('0'.repeat(64));
    await logLine(
      'sweep',
      10,
      sweepRecord([
        { region: 'eu-west-1', operation: 'ec2:DescribeInstances', message: 'UnauthorizedOperation: no' },
      ]),
    );
    await new CloudWatchClient(config()).send(
      new SetAlarmStateCommand({
        AlarmName: `${STACK}-sweep-errors`,
        StateValue: 'ALARM',
        StateReason: 'Threshold Crossed',
      }),
    );

    // Act
    const { code, out } = await cli('status', '--policy', policy, '--region', REGION);

    // Assess
    expect(code).toBe(1);
    expect(out).toMatch(/^!! +policy +.*\.yml changed since deploy: run `npx serverless deploy`/m);
    expect(out).toMatch(
      /^!! +last sweep +.*: 3 seen, 1 warned, 0 stopped, 1 errors; first: eu-west-1 ec2:DescribeInstances: UnauthorizedOperation: no\. Details: npx serverless logs -f sweep$/m,
    );
    expect(out).toMatch(
      /^!! +alarms +cost-watchdog-prod-sweep-errors in ALARM since .*: The cost-watchdog sweep failed\.$/m,
    );
    // No digest yet, right after the deploy: information, not a problem.
    expect(out).toMatch(/^ +last digest +not sent yet; first one .* \(Europe\/Berlin\)/m);
    expect(out).toMatch(/Needs attention \(3\)/);
  });

  it('says there is no stack, and how to deploy one', async () => {
    const { code, out } = await cli('status', '--policy', policy, '--stage', 'dev');

    expect(code).toBe(1);
    expect(out).toMatch(
      /^!! +stack +no stack cost-watchdog-dev in us-east-1: deploy it \(npx serverless deploy --param alertEmail=you@example\.edu\)/m,
    );
  });

  it('prints the same as JSON with --json', async () => {
    await deployStack(sha256(policy));

    const { code, out } = await cli('status', '--policy', policy, '--json');

    const status = JSON.parse(out) as StackStatus;
    expect(code).toBe(0);
    expect(status).toMatchObject({
      stackName: STACK,
      region: REGION,
      account: '123456789012',
      healthy: true,
    });
    expect(status.checks.find((c) => c.check === 'last sweep')).toEqual({
      check: 'last sweep',
      state: 'info',
      text: 'not run yet since the deploy',
    });
  });
});
