/**
 * The sweep Lambda handler end to end against moto for SageMaker notebook instances and RDS databases: seed
 * them (moto starts them "now"), write what their evidence would be (a notebook's own last-activity tag; the
 * AWS/RDS datapoints), run the real handler at later times, and read back their state, tags and the alerts.
 */
import { RDSClient, StartDBInstanceCommand, StopDBInstanceCommand } from '@aws-sdk/client-rds';
import { SageMakerClient, StopNotebookInstanceCommand } from '@aws-sdk/client-sagemaker';
import { SNSClient } from '@aws-sdk/client-sns';
import { beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/aws/clients.js';
import { Notifier } from '../../src/aws/sns.js';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { createSweepHandler } from '../../src/handlers/sweep.js';
import {
  createAuroraCluster,
  createDatabase,
  createNotebook,
  createReadReplica,
  databaseState,
  notebookState,
  putDatabaseMetrics,
  tagDatabase,
  tagNotebook,
  UNUSED_DB,
  USED_DB,
} from './kinds-support.js';
import { hoursAfter, minutesAfter, policyFile, sweepHandler } from './sweep-scenario.js';
import { main } from '../../src/cli/main.js';
import { createTopic, endpoint, resetEmulator, sentMessages, target } from './support.js';

const REGION = 'us-east-1';
const GRACE_MINUTES = 60;
const POLICY = `regions: [${REGION}]\ngraceMinutes: ${GRACE_MINUTES}\n`;

let topicArn: string;

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

/**
 * The real sweep handler publishing to SNS, whose alerts are also kept here: moto's state dump (sentMessages)
 * cannot serialise RDS resources, so scenarios with databases read the alerts as they were published.
 */
function sweepPublishing(policy: string): {
  at(now: Date): ReturnType<ReturnType<typeof createSweepHandler>>;
  alerts: Alert[];
} {
  let now = new Date(0);
  const alerts: Alert[] = [];
  const sns = new Notifier(new SNSClient(clientConfig(target(REGION))), topicArn);
  const handler = createSweepHandler({
    clock: () => now,
    env: { AWS_REGION: REGION, TOPIC_ARN: topicArn, POLICY_FILE: policy, AWS_ENDPOINT_URL: endpoint() },
    log: () => {},
    notifier: {
      publish: async (a) => {
        alerts.push(a);
        return sns.publish(a);
      },
    },
  });
  return {
    alerts,
    at(at: Date) {
      now = at;
      return handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    },
  };
}

const emailOf = (message: string | undefined) =>
  (JSON.parse(message ?? '{}') as { email?: string }).email ?? '';
const dayAfter = (at: Date) => new Date(at.getTime() + 26 * 3_600_000).toISOString().slice(0, 10);

describe('SageMaker notebook instances', () => {
  it('warns an unused notebook and stops it after the grace; busy, unmeasured, exempt and snoozed ones are left running', async () => {
    // Prepare: five notebooks started now; the sweep runs 3 h later
    const started = await createNotebook(REGION, 'forgotten', { tags: { Owner: 'alice' } });
    for (const name of ['busy', 'unmeasured', 'exempt', 'snoozed']) await createNotebook(REGION, name);
    const t = hoursAfter(started, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    const lastUsed = minutesAfter(started, 10).toISOString();
    await tagNotebook(REGION, 'forgotten', { [TAGS.lastActivity]: lastUsed });
    // in use until after the second run (the lifecycle script writes the time of the latest kernel activity)
    await tagNotebook(REGION, 'busy', { [TAGS.lastActivity]: stopTime.toISOString() });
    await tagNotebook(REGION, 'exempt', { [TAGS.lastActivity]: lastUsed, [TAGS.exempt]: 'true' });
    await tagNotebook(REGION, 'snoozed', { [TAGS.lastActivity]: lastUsed, [TAGS.exempt]: dayAfter(t) });
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act 1
    const first = await sweep.at(t);

    // Assess 1: only the forgotten notebook is warned; the protected ones are reported
    expect(first).toMatchObject({ instancesSeen: 5, warned: ['forgotten'], stopped: [], errors: [] });
    expect(
      Object.fromEntries(first.decisions.map((d) => [d.instanceId, [d.action, d.rule, d.protection]])),
    ).toEqual({
      forgotten: ['warn', 'idle', null],
      exempt: ['report', 'idle', 'exempt'],
      snoozed: ['report', 'idle', 'snoozed'],
    });
    expect((await notebookState(REGION, 'forgotten')).tags).toMatchObject({
      [TAGS.warnedAt]: t.toISOString(),
      [TAGS.warnRule]: 'idle',
    });
    const [admin, owner] = await sentMessages(topicArn);
    expect(emailOf(admin?.message)).toContain(
      `- forgotten (notebook ml.t3.medium, ${REGION}, owner alice): idle: last kernel or terminal activity `,
    );
    expect(owner?.attributes).toEqual({ owner: 'alice' });
    expect(emailOf(owner?.message)).toContain('the SageMaker console (Notebook instances)');

    // Act 2: one grace later, still unused
    const second = await sweep.at(stopTime);

    // Assess 2: stopped (storage kept), the reason recorded, the warning removed; the others still run
    expect(second).toMatchObject({ warned: [], stopped: ['forgotten'], errors: [] });
    const stopped = await notebookState(REGION, 'forgotten');
    expect(stopped.status).toBe('Stopped');
    expect(stopped.tags).toMatchObject({
      [TAGS.stoppedAt]: stopTime.toISOString(),
      [TAGS.stoppedBy]: 'sweep',
    });
    expect(stopped.tags[TAGS.stopReason]).toMatch(/^idle: last kernel or terminal activity/);
    expect(stopped.tags[TAGS.warnedAt]).toBeUndefined();
    for (const name of ['busy', 'unmeasured', 'exempt', 'snoozed']) {
      const state = await notebookState(REGION, name);
      expect(state.status, name).toBe('InService');
      expect(state.tags[TAGS.warnedAt], name).toBeUndefined();
    }
  });

  it('warns and stops an ml.p3.2xlarge notebook as not free tier when the policy says stop', async () => {
    const started = await createNotebook(REGION, 'gpu-nb', { type: 'ml.p3.2xlarge' });
    await tagNotebook(REGION, 'gpu-nb', { [TAGS.lastActivity]: hoursAfter(started, 5).toISOString() });
    const t = hoursAfter(started, 1.5);
    const sweep = sweepHandler({
      region: REGION,
      topicArn,
      policy: policyFile(`${POLICY}nonFreeTier: { action: stop }\n`),
    });

    const first = await sweep.at(t);
    const second = await sweep.at(minutesAfter(t, GRACE_MINUTES));

    expect(first.decisions[0]).toMatchObject({ action: 'warn', rule: 'non-free-tier' });
    expect(first.decisions[0]?.reasons[0]).toBe(
      'not free tier: ml.p3.2xlarge is not in notebooks.freeTierTypes and not in notebooks.allowedTypes',
    );
    expect(second.stopped).toEqual(['gpu-nb']);
  });
});

describe('RDS databases', () => {
  it('warns an unused database and stops it after the grace; used, exempt, snoozed and replicas are left running', async () => {
    // Prepare
    const created = await createDatabase(REGION, 'course-db', { tags: { Owner: 'bob' } });
    await createDatabase(REGION, 'team-db');
    await createDatabase(REGION, 'exempt-db', { tags: { [TAGS.exempt]: 'true' } });
    await createDatabase(REGION, 'snoozed-db');
    await createDatabase(REGION, 'prod-db');
    await createReadReplica(REGION, 'prod-db-replica', 'prod-db');
    const t = hoursAfter(created, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    await tagDatabase(REGION, 'snoozed-db', { [TAGS.exempt]: dayAfter(t) });
    for (const id of ['course-db', 'exempt-db', 'snoozed-db', 'prod-db', 'prod-db-replica']) {
      await putDatabaseMetrics(REGION, id, UNUSED_DB, created, stopTime);
    }
    await putDatabaseMetrics(REGION, 'team-db', USED_DB, created, stopTime);
    const sweep = sweepPublishing(policyFile(POLICY));

    // Act 1
    const first = await sweep.at(t);

    // Assess 1
    expect(first).toMatchObject({
      instancesSeen: 6,
      warned: ['course-db'],
      stopped: [],
      errors: [],
    });
    expect(
      Object.fromEntries(first.decisions.map((d) => [d.instanceId, [d.action, d.rule, d.protection]])),
    ).toEqual({
      'course-db': ['warn', 'idle', null],
      'exempt-db': ['report', 'idle', 'exempt'],
      'snoozed-db': ['report', 'idle', 'snoozed'],
      'prod-db': ['report', 'idle', 'not-stoppable'],
      'prod-db-replica': ['report', 'idle', 'not-stoppable'],
    });
    const replica = first.decisions.find((d) => d.instanceId === 'prod-db-replica');
    expect(replica?.reasons[0]).toBe(
      'never stopped: read replica of prod-db: RDS cannot stop a read replica',
    );
    expect(first.decisions.find((d) => d.instanceId === 'course-db')?.reasons[0]).toBe(
      'idle: no connections, CPU avg 1.5% (limit 5%) over 2 h',
    );
    const [admin, owner] = sweep.alerts;
    expect(owner?.owner).toBe('bob');
    expect(admin?.text).toContain(`- course-db (database db.t3.micro, ${REGION}, owner bob): idle`);

    // Act 2
    const second = await sweep.at(stopTime);

    // Assess 2: stopped without a snapshot or a delete; the others still available
    expect(second).toMatchObject({ stopped: ['course-db'], errors: [] });
    const course = await databaseState(REGION, 'course-db');
    expect(course.status).toBe('stopped');
    expect(course.tags).toMatchObject({
      [TAGS.stoppedAt]: stopTime.toISOString(),
      [TAGS.stoppedBy]: 'sweep',
    });
    expect(course.tags[TAGS.warnedAt]).toBeUndefined();
    for (const id of ['team-db', 'exempt-db', 'snoozed-db', 'prod-db', 'prod-db-replica']) {
      expect((await databaseState(REGION, id)).status, id).toBe('available');
    }
  });

  it('stops an unused Aurora cluster through StopDBCluster', async () => {
    const created = await createAuroraCluster(REGION, 'lab-aurora');
    const t = hoursAfter(created, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    await putDatabaseMetrics(REGION, 'lab-aurora', UNUSED_DB, created, stopTime, true);
    // Aurora is never free tier: allow its class so that only idleness decides
    const sweep = sweepHandler({
      region: REGION,
      topicArn,
      policy: policyFile(`${POLICY}databases: { allowedTypes: [db.r6g.large] }\n`),
    });

    const first = await sweep.at(t);
    const second = await sweep.at(stopTime);

    expect(first.decisions).toEqual([
      expect.objectContaining({
        instanceId: 'lab-aurora',
        kind: 'rds-cluster',
        action: 'warn',
        rule: 'idle',
      }),
    ]);
    expect(first.decisions[0]?.reasons[0]).toBe('idle: no connections, CPU avg 1.5% (limit 5%) over 2 h');
    expect(second.stopped).toEqual(['lab-aurora']);
    const state = await databaseState(REGION, 'lab-aurora', true);
    expect(state.status).toBe('stopped');
    expect(state.tags[TAGS.stoppedBy]).toBe('sweep');
  });

  it('notices a database that was started again after its stop: warned afresh, stopped again after the grace', async () => {
    // Prepare: stopped by the watchdog once
    const created = await createDatabase(REGION, 'course-db');
    const t = hoursAfter(created, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    await putDatabaseMetrics(REGION, 'course-db', UNUSED_DB, created, stopTime);
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });
    await sweep.at(t);
    expect((await sweep.at(stopTime)).stopped).toEqual(['course-db']);
    // 7 days later RDS starts it again by itself (moto: StartDBInstance), and nobody uses it
    await new RDSClient(clientConfig(target(REGION))).send(
      new StartDBInstanceCommand({ DBInstanceIdentifier: 'course-db' }),
    );
    const restart = new Date(stopTime.getTime() + 7 * 24 * 3_600_000);
    const r = minutesAfter(restart, 60);
    await putDatabaseMetrics(REGION, 'course-db', UNUSED_DB, restart, minutesAfter(r, GRACE_MINUTES));

    // Act 1
    const again = await sweep.at(r);

    // Assess 1: a new warning (the one before the stop was removed by it), then a stop after the grace
    expect(again).toMatchObject({ warned: ['course-db'], stopped: [] });
    expect(again.decisions[0]?.reasons).toContain(
      `over uptime: running ${((r.getTime() - stopTime.getTime()) / 3_600_000).toFixed(0)} h since its last start (limit 24 h for free-tier types)`,
    );
    expect((await databaseState(REGION, 'course-db')).tags[TAGS.warnedAt]).toBe(r.toISOString());

    // Act 2
    const stoppedAgain = await sweep.at(minutesAfter(r, GRACE_MINUTES));

    // Assess 2
    expect(stoppedAgain.stopped).toEqual(['course-db']);
    expect((await databaseState(REGION, 'course-db')).status).toBe('stopped');
  });
});

describe('a dry run over notebooks and databases', () => {
  it('says what it would stop and changes nothing', async () => {
    // Prepare: both warned 2 h ago, unused since
    const created = await createDatabase(REGION, 'course-db');
    await createNotebook(REGION, 'forgotten');
    const t = hoursAfter(created, 3);
    const warned = { [TAGS.warnedAt]: minutesAfter(t, -120).toISOString(), [TAGS.warnRule]: 'idle' };
    await tagNotebook(REGION, 'forgotten', { [TAGS.lastActivity]: created.toISOString(), ...warned });
    await tagDatabase(REGION, 'course-db', warned);
    await putDatabaseMetrics(REGION, 'course-db', UNUSED_DB, created, t);
    const before = [await notebookState(REGION, 'forgotten'), await databaseState(REGION, 'course-db')];

    // Act
    const report = await sweepHandler({
      region: REGION,
      topicArn,
      policy: policyFile(`${POLICY}dryRun: true\n`),
    }).at(t);

    // Assess
    expect(report).toMatchObject({ dryRun: true, warned: [], stopped: [] });
    expect(report.decisions.map((d) => [d.instanceId, d.action])).toEqual([
      ['forgotten', 'stop'],
      ['course-db', 'stop'],
    ]);
    expect([await notebookState(REGION, 'forgotten'), await databaseState(REGION, 'course-db')]).toEqual(
      before,
    );
  });
});

describe('what stopped notebooks and databases still cost', () => {
  it('the digest lists their storage per resource and per owner, and nothing is deleted', async () => {
    // Prepare: a stopped notebook (10 GB) and a stopped database (20 GB gp2)
    await createNotebook(REGION, 'old-nb', { tags: { Owner: 'alice' } });
    await createDatabase(REGION, 'old-db', { tags: { Owner: 'bob' } });
    await new SageMakerClient(clientConfig(target(REGION))).send(
      new StopNotebookInstanceCommand({ NotebookInstanceName: 'old-nb' }),
    );
    await new RDSClient(clientConfig(target(REGION))).send(
      new StopDBInstanceCommand({ DBInstanceIdentifier: 'old-db' }),
    );
    const out: string[] = [];
    const err: string[] = [];

    // Act
    const code = await main(
      ['digest', '--region', REGION, '--policy', policyFile(POLICY), '--endpoint-url', endpoint()],
      { out: (t) => out.push(t), err: (t) => err.push(t), env: { ...process.env } },
    );

    // Assess
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/Storage of stopped RDS databases \(1\), \$2\.30\/month:/);
    expect(text).toMatch(/old-db +bob +us-east-1 +20 GB gp2 +2\.30/);
    expect(text).toMatch(/Volumes of stopped SageMaker notebooks \(1\), \$1\.40\/month:/);
    expect(text).toMatch(/old-nb +alice +us-east-1 +10 GB ML storage +1\.40/);
    expect((await notebookState(REGION, 'old-nb')).status).toBe('Stopped');
    expect((await databaseState(REGION, 'old-db')).status).toBe('stopped');
  });
});
