/**
 * The README's serverless commands after a deploy, without --param alertEmail, against a stack in moto: `info`,
 * `logs -f sweep`, `invoke local -f sweep` (the real sweep, built by serverless-esbuild, with no keep / stop links
 * since a GetAtt cannot be resolved locally) and `remove`. osls finds moto through AWS_ENDPOINT_URL.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  ListStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/aws/clients.js';
import { projectCopy } from '../support/packaged-template.js';
import { awsEnv, resetEmulator, seedInstances, target } from './support.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const REGION = 'us-east-1';
const STACK = 'cost-watchdog-prod';
let project: string;

/** `serverless <args>` in the project copy, against moto, with no --param at all. */
async function sls(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const running = run(
      process.execPath,
      [join(ROOT, 'node_modules/serverless/bin/serverless.js'), ...args],
      {
        cwd: project,
        // A failed invoke local can leave serverless-esbuild's service running: never wait for it forever.
        timeout: 120_000,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          ...awsEnv(REGION),
          SLS_TELEMETRY_DISABLED: '1',
          SLS_NOTIFICATIONS_MODE: 'off',
          // How often `remove` polls the stack (osls waits 5 s between polls; moto deletes at once).
          SLS_AWS_MONITORING_FREQUENCY: '200',
        },
      },
    );
    // As in a terminal: no event on stdin (invoke local would wait for one on an open pipe).
    running.child.stdin?.end();
    const { stdout, stderr } = await running;
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

/** The deployed stack as far as these commands look at it: its topic (TOPIC_ARN is a Ref to it). */
async function deployStack(): Promise<void> {
  const cfn = new CloudFormationClient(clientConfig(target(REGION)));
  await cfn.send(
    new CreateStackCommand({
      StackName: STACK,
      TemplateBody: JSON.stringify({
        Resources: {
          AlertTopic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: `${STACK}-alerts` } },
        },
        Outputs: { AlertTopicArn: { Value: { Ref: 'AlertTopic' } } },
      }),
    }),
  );
}

beforeAll(() => {
  project = projectCopy(`regions: [${REGION}]\n`, join(mkdtempSync(join(tmpdir(), 'cw-sls-')), 'project'));
});

beforeEach(async () => {
  await resetEmulator();
  await deployStack();
});

describe('serverless commands after deploy, without --param alertEmail', () => {
  it('info shows the stack and its functions, and logs -f sweep prints the sweep function log', async () => {
    // Prepare
    const logs = new CloudWatchLogsClient(clientConfig(target(REGION)));
    const group = `/aws/lambda/${STACK}-sweep`;
    await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: 'one' }));
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: group,
        logStreamName: 'one',
        logEvents: [{ timestamp: Date.now(), message: 'sweep: 3 seen, 1 warned, 0 stopped, 0 errors' }],
      }),
    );

    // Act: both read-only, so at once
    const [info, log] = await Promise.all([sls('info'), sls('logs', '-f', 'sweep')]);

    // Assess
    expect(info.err).not.toContain('alertEmail');
    expect(info.code, info.err).toBe(0);
    expect(info.out).toContain(`stack: ${STACK}`);
    expect(info.out).toContain(`sweep: ${STACK}-sweep`);
    expect(log.code, log.err).toBe(0);
    expect(log.out).toContain('sweep: 3 seen, 1 warned, 0 stopped, 0 errors');
  }, 120_000);

  it('invoke local -f sweep runs the real sweep, without links, and says so', async () => {
    await seedInstances(REGION, { tags: { Name: 'lab' } });

    const result = await sls('invoke', 'local', '-f', 'sweep');

    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain('ACTIONS_URL is empty, so warnings carry no keep / stop links');
    expect(result.out).toMatch(/"message":"sweep: 1 seen, 0 warned, 0 stopped, 0 errors"/);
  }, 180_000);

  it('remove deletes the stack', async () => {
    const result = await sls('remove');

    expect(result.code, result.err).toBe(0);
    const cfn = new CloudFormationClient(clientConfig(target(REGION)));
    const stacks = await cfn.send(new ListStacksCommand({}));
    expect(stacks.StackSummaries?.find((s) => s.StackName === STACK)?.StackStatus).toBe('DELETE_COMPLETE');
    await expect(cfn.send(new DescribeStacksCommand({ StackName: STACK }))).rejects.toThrow(/does not exist/);
  }, 120_000);
});
