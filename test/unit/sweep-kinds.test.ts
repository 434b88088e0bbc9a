/**
 * The sweep over every kind of a target: EC2 first, then notebooks and databases, each with its own policy,
 * disabled kinds skipped, a failing kind reported without failing the region.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Instance, InstanceMetrics, Point } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { busyMetrics, DEFAULT_POLICY, hoursAgo, makeInstance, NOW, policyWith } from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';

let fleet: InMemoryFleet;
let alerts: Alert[];
const targets = [{ region: 'eu-west-1' }];
const LATER = new Date(NOW.getTime() + 61 * 60_000);

function dbMetrics(connections: number, cpu: number, until = LATER): InstanceMetrics {
  const n = Math.round((5 * 3600) / 300);
  const series = (v: number): Point[] =>
    Array.from({ length: n }, (_, k) => ({ at: until.getTime() - k * 300_000, value: v }));
  return { connections: series(connections), cpu: series(cpu) };
}

function add(instance: Instance, metrics?: InstanceMetrics): Instance {
  fleet.add({ instance, state: 'running', stopProtected: false });
  if (metrics) fleet.metrics.set(instance.instanceId, metrics);
  return instance;
}

const notebook = (tags: Record<string, string> = {}): Instance => ({
  kind: 'sagemaker-notebook',
  instanceId: 'course-nb',
  region: 'eu-west-1',
  instanceType: 'ml.t3.medium',
  launchTime: hoursAgo(5),
  tags: { Owner: 'alice', [TAGS.lastActivity]: hoursAgo(4), ...tags },
  rootDeviceType: 'ebs',
});

const database = (extra: Partial<Instance> = {}): Instance => ({
  kind: 'rds-instance',
  instanceId: 'course-db',
  region: 'eu-west-1',
  instanceType: 'db.t3.micro',
  launchTime: hoursAgo(5),
  tags: { Owner: 'alice' },
  rootDeviceType: 'ebs',
  engine: 'mysql',
  multiAz: false,
  ...extra,
});

function sweep(at: Date, policy = DEFAULT_POLICY, extra: Partial<Parameters<typeof runSweep>[0]> = {}) {
  return runSweep({
    policy,
    now: at,
    targets,
    services: fleet.services(),
    publish: async (a) => {
      alerts.push(a);
    },
    ...extra,
  });
}

describe('runSweep over notebooks and databases', () => {
  beforeEach(() => {
    fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    alerts = [];
  });

  it('warns an idle notebook and an idle database, then stops them after the grace, naming their kind', async () => {
    // Prepare: a busy EC2 instance, a notebook unused for 4 h, a database without connections
    const ec2 = makeInstance({ region: 'eu-west-1' });
    add(ec2, busyMetrics({ now: LATER, hours: 5 }));
    add(notebook());
    add(database(), dbMetrics(0, 1));

    // Act 1
    const first = await sweep(NOW);

    // Assess 1: both warned on their own fleets, EC2 first in the report
    expect(first.decisions.map((d) => [d.instanceId, d.kind, d.action, d.rule])).toEqual([
      [ec2.instanceId, undefined, 'none', null],
      ['course-nb', 'sagemaker-notebook', 'warn', 'idle'],
      ['course-db', 'rds-instance', 'warn', 'idle'],
    ]);
    expect(first.warned).toEqual(['course-nb', 'course-db']);
    expect(fleet.calls.filter((c) => c.operation === 'tag').map((c) => [c.kind, c.instanceIds])).toEqual([
      ['sagemaker-notebook', ['course-nb']],
      ['rds-instance', ['course-db']],
    ]);
    const admin = alerts[0]?.text ?? '';
    expect(admin).toContain('- course-nb (notebook ml.t3.medium, eu-west-1, owner alice): idle: last kernel');
    expect(admin).toContain(
      '- course-db (database db.t3.micro, eu-west-1, owner alice): idle: no connections',
    );
    const owner = alerts.find((a) => a.owner === 'alice')?.text ?? '';
    expect(owner).toContain("checked this account's instances, notebooks and databases");
    expect(owner).toContain('- notebook course-nb (ml.t3.medium, eu-west-1)');
    expect(owner).toContain('Nobody has used it: no database connections and CPU averaged 1.0% (limit 5%)');

    // Act 2: one grace period later, still unused
    const second = await sweep(LATER);

    // Assess 2
    expect(second.stopped).toEqual(['course-nb', 'course-db']);
    expect(fleet.find('course-nb')?.state).toBe('stopped');
    expect(fleet.find('course-db')?.instance.tags).toMatchObject({
      [TAGS.stoppedBy]: 'sweep',
      [TAGS.stoppedAt]: LATER.toISOString(),
    });
    expect(fleet.find('course-db')?.instance.tags[TAGS.warnedAt]).toBeUndefined();
    expect(fleet.find(ec2.instanceId)?.state).toBe('running');
  });

  it('uses each kind its own grace period', async () => {
    add(database(), dbMetrics(0, 1));
    const policy = policyWith({ databases: { graceMinutes: 240 } });

    await sweep(NOW, policy);
    const later = await sweep(LATER, policy);

    expect(later.decisions[0]).toMatchObject({ action: 'warn', newWarning: false });
    expect(later.stopped).toEqual([]);
  });

  it('skips a kind the policy switches off: not listed, not counted', async () => {
    add(notebook());
    add(database(), dbMetrics(0, 1));

    const report = await sweep(NOW, policyWith({ notebooks: { enabled: false } }));

    expect(report.decisions.map((d) => d.instanceId)).toEqual(['course-db']);
    expect(report.instancesSeen).toBe(1);
  });

  it('reports a kind that cannot be listed and keeps the region and its other kinds', async () => {
    const ec2 = makeInstance({ region: 'eu-west-1' });
    add(ec2, busyMetrics({ hours: 5 }));
    add(notebook());
    fleet.fault = (operation, _region, _id, kind) =>
      operation === 'listRunning' && kind === 'rds-instance' ? awsError('AccessDenied') : undefined;

    const report = await sweep(NOW);

    expect(report.scopes).toEqual([
      { region: 'eu-west-1', instances: 2, ok: true, metricsApi: 'GetMetricStatistics' },
    ]);
    expect(report.errors).toEqual([
      { region: 'eu-west-1', operation: 'rds:DescribeDBInstances', message: 'AccessDenied' },
    ]);
    expect(report.warned).toEqual(['course-nb']);
  });

  it('fails a region whose EC2 cannot be listed as one scope with one error, and tries none of its other kinds', async () => {
    add(makeInstance({ region: 'eu-west-1' }), busyMetrics({ hours: 5 }));
    add(notebook());
    add(database(), dbMetrics(0, 1, NOW));
    const tried: string[] = [];
    fleet.fault = (operation, _region, _id, kind) => {
      tried.push(`${kind ?? 'ec2'} ${operation}`);
      return operation === 'listRunning' && (kind ?? 'ec2') === 'ec2'
        ? awsError('UnauthorizedOperation')
        : undefined;
    };

    const report = await sweep(NOW);

    expect(report.scopes).toEqual([
      {
        region: 'eu-west-1',
        instances: 0,
        ok: false,
        error: expect.stringContaining('UnauthorizedOperation'),
      },
    ]);
    expect(report.errors).toEqual([
      { region: 'eu-west-1', operation: 'ec2:DescribeInstances', message: 'UnauthorizedOperation' },
    ]);
    expect(tried.filter((t) => !t.startsWith('ec2 '))).toEqual([]);
    expect(report.decisions).toEqual([]);
  });

  it('lists the notebooks and databases once EC2 has answered, and reports EC2 first, then the kinds in order', async () => {
    add(makeInstance({ region: 'eu-west-1' }), busyMetrics({ hours: 5 }));
    add(notebook());
    add(database(), dbMetrics(0, 1, NOW));
    const order: string[] = [];
    fleet.fault = (operation, _region, _id, kind) => {
      if (operation === 'listRunning') order.push(kind ?? 'ec2');
      return undefined;
    };

    const report = await sweep(NOW);

    expect(order[0]).toBe('ec2');
    expect(new Set(order)).toEqual(new Set(['ec2', 'sagemaker-notebook', 'rds-instance', 'rds-cluster']));
    expect(report.decisions.map((d) => d.kind ?? 'ec2')).toEqual([
      'ec2',
      'sagemaker-notebook',
      'rds-instance',
    ]);
  });

  it('names the API of the kind when a stop fails', async () => {
    add(database({ tags: { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' } }), dbMetrics(0, 1, NOW));
    fleet.fault = (operation, _region, _id, kind) =>
      operation === 'stop' && kind === 'rds-instance'
        ? awsError('InvalidDBInstanceStateFault', 'not available')
        : undefined;

    const report = await sweep(NOW);

    expect(report.errors).toEqual([
      {
        region: 'eu-west-1',
        instanceId: 'course-db',
        operation: 'rds:StopDBInstance',
        message: 'InvalidDBInstanceStateFault: not available',
      },
    ]);
  });

  it('reports a database RDS cannot stop and never warns it', async () => {
    add(
      database({ cannotStop: 'read replica of prod: RDS cannot stop a read replica' }),
      dbMetrics(0, 1, NOW),
    );

    const report = await sweep(NOW);

    expect(report.decisions[0]).toMatchObject({ action: 'report', protection: 'not-stoppable' });
    expect(report.warned).toEqual([]);
    expect(fleet.calls).toEqual([]);
  });

  it('changes nothing in a dry run', async () => {
    add(notebook({ [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' }));
    add(database(), dbMetrics(0, 1, NOW));

    const report = await sweep(NOW, DEFAULT_POLICY, { dryRun: true });

    expect(report.decisions.map((d) => d.action)).toEqual(['stop', 'warn']);
    expect(fleet.calls).toEqual([]);
    expect(alerts).toEqual([]);
  });
});
