/**
 * Bad events against moto (issue #8): the launch guard answered by a real EC2 API for an instance id that does
 * not exist (moto answers InvalidInstanceID.NotFound, as EC2 does) or that was terminated since the event, and
 * malformed events next to a running instance that must stay untouched. The unit side is
 * test/unit/event-fuzz.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/core/log.js';
import { TAGS } from '../../src/core/policy.js';
import { createLaunchGuardHandler, STATE_CHANGE_DETAIL_TYPE } from '../../src/handlers/launch-guard.js';
import {
  clients,
  createTopic,
  EMULATOR_ACCOUNT,
  endpoint,
  resetEmulator,
  seedInstances,
  sentMessages,
} from './support.js';

const REGION = 'us-east-1';

function stateChange(detail: unknown) {
  return {
    version: '0',
    id: 'ee376907-2647-4179-9203-343cfb3017a4',
    'detail-type': STATE_CHANGE_DETAIL_TYPE,
    source: 'aws.ec2',
    account: EMULATOR_ACCOUNT,
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail,
  };
}

async function guard() {
  const topicArn = await createTopic(REGION);
  const file = join(mkdtempSync(join(tmpdir(), 'cw-fuzz-emu-')), 'watchdog.yml');
  // Stop at once: any event that wrongly got through would stop the instance.
  writeFileSync(
    file,
    `regions: [${REGION}]\nnonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n`,
  );
  const logs: LogRecord[] = [];
  const handler = createLaunchGuardHandler({
    clock: () => new Date(),
    env: { AWS_REGION: REGION, TOPIC_ARN: topicArn, POLICY_FILE: file, AWS_ENDPOINT_URL: endpoint() },
    log: (r) => logs.push(r),
  });
  return { handler, topicArn, logs };
}

async function stateOf(id: string) {
  const res = await clients(REGION).ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const instance = res.Reservations?.[0]?.Instances?.[0];
  return { state: instance?.State?.Name, tags: instance?.Tags ?? [] };
}

beforeEach(async () => {
  await resetEmulator();
});

describe('the launch guard on the emulator with bad events', () => {
  it('logs and ignores an instance id EC2 does not know, with no alert', async () => {
    // Prepare
    const { handler, topicArn, logs } = await guard();

    // Act
    const result = await handler(stateChange({ 'instance-id': 'i-0123456789abcdef0', state: 'running' }));

    // Assess
    expect(result).toMatchObject({ status: 'ignored', reason: 'no longer running' });
    expect(logs.at(-1)).toMatchObject({
      level: 'info',
      message: 'launch-guard: i-0123456789abcdef0 ignored',
    });
    expect(await sentMessages(topicArn)).toEqual([]);
  });

  it('ignores an instance stopped between the event and the check', async () => {
    // Prepare
    const { handler, topicArn } = await guard();
    const [id] = (await seedInstances(REGION, { type: 't3.large', tags: { Owner: 'alice' } })) as [string];
    await clients(REGION).ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));

    // Act
    const result = await handler(stateChange({ 'instance-id': id, state: 'running' }));

    // Assess
    expect(result).toMatchObject({ status: 'ignored', instanceId: id });
    expect(await sentMessages(topicArn)).toEqual([]);
  });

  it('leaves a running t3.large untouched for malformed events that name it', async () => {
    // Prepare
    const { handler, topicArn } = await guard();
    const [id] = (await seedInstances(REGION, { type: 't3.large', tags: { Owner: 'alice' } })) as [string];
    const events = [
      stateChange({ 'instance-id': `${id}; rm -rf /`, state: 'running' }),
      stateChange({ 'instance-id': [id], state: 'running' }),
      stateChange({ 'instance-id': id.toUpperCase(), state: 'running' }),
      stateChange({ 'instance-id': id, state: 'running'.repeat(10) }),
      { ...stateChange({ 'instance-id': id, state: 'running' }), source: 'custom.app' },
      {
        ...stateChange({ 'instance-id': id, state: 'running' }),
        'detail-type': 'AWS API Call via CloudTrail',
      },
      JSON.parse(`{"source":"aws.ec2","detail-type":"${STATE_CHANGE_DETAIL_TYPE}","region":"${REGION}",
        "__proto__":{"detail":{"instance-id":"${id}","state":"running"}}}`),
    ];

    // Act
    const results = [];
    for (const event of events) results.push(await handler(event));

    // Assess
    expect(results.map((r) => r.status)).toEqual(events.map(() => 'ignored'));
    const after = await stateOf(id);
    expect(after.state).toBe('running');
    expect(after.tags.map((t) => t.Key)).not.toContain(TAGS.stoppedAt);
    expect(after.tags.map((t) => t.Key)).not.toContain(TAGS.warnedAt);
    expect(await sentMessages(topicArn)).toEqual([]);
  });

  it('does stop the same t3.large for the well-formed event (the policy above is live)', async () => {
    // Prepare
    const { handler } = await guard();
    const [id] = (await seedInstances(REGION, { type: 't3.large', tags: { Owner: 'alice' } })) as [string];

    // Act
    const result = await handler(stateChange({ 'instance-id': id, state: 'running' }));

    // Assess
    expect(result.status).toBe('stopped');
    expect((await stateOf(id)).state).toMatch(/^stopp/);
  });
});
