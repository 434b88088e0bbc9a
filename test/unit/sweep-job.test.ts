import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { createSweepHandler, SweepIncompleteError } from '../../src/handlers/sweep.js';
import { runSweep } from '../../src/jobs/sweep.js';
import {
  busyMetrics,
  DEFAULT_POLICY,
  hoursAgo,
  idleMetrics,
  makeInstance,
  NOW,
  policyWith,
} from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';
import { policyFile } from '../support/policy-file.js';

let fleet: InMemoryFleet;
let alerts: Alert[];
const publish = async (a: Alert) => {
  alerts.push(a);
};
const targets = [{ region: 'us-east-1' }];

function addRunning(
  overrides: Parameters<typeof makeInstance>[0] = {},
  metrics = idleMetrics(),
  stopProtected = false,
) {
  const instance = makeInstance(overrides);
  fleet.add({ instance, state: 'running', stopProtected });
  fleet.metrics.set(instance.instanceId, metrics);
  return instance;
}

function sweep(extra: Partial<Parameters<typeof runSweep>[0]> = {}) {
  return runSweep({
    policy: DEFAULT_POLICY,
    now: NOW,
    targets,
    services: fleet.services(),
    publish,
    ...extra,
  });
}

describe('runSweep', () => {
  beforeEach(() => {
    fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    alerts = [];
  });

  it('warns about an idle instance: tags it, alerts the admin and its owner, stops nothing', async () => {
    // Prepare
    const idle = addRunning({ tags: { Owner: 'bob' } });
    addRunning({}, busyMetrics());

    // Act
    const report = await sweep();

    // Assess
    expect(report.warned).toEqual([idle.instanceId]);
    expect(report.stopped).toEqual([]);
    expect(fleet.find(idle.instanceId)?.instance.tags).toMatchObject({
      [TAGS.warnedAt]: NOW.toISOString(),
      [TAGS.warnRule]: 'idle',
    });
    expect(fleet.stopAttempts()).toEqual([]);
    expect(alerts.map((a) => a.owner)).toEqual([undefined, 'bob']);
    expect(alerts[0]?.text).toContain(`${idle.instanceId} (t3.micro, us-east-1`);
    expect(alerts[0]?.text).toMatch(/idle: CPU avg 0\.50% \(limit 5%\)/);
  });

  it('stops an instance warned more than the grace period ago, records why, and clears the warning', async () => {
    const due = addRunning({ tags: { Owner: 'bob', [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' } });

    const report = await sweep();

    expect(report.stopped).toEqual([due.instanceId]);
    expect(fleet.find(due.instanceId)?.state).toBe('stopped');
    const tags = fleet.find(due.instanceId)?.instance.tags ?? {};
    expect(tags[TAGS.stoppedAt]).toBe(NOW.toISOString());
    expect(tags[TAGS.stopReason]).toBe(
      'idle: CPU avg 0.50% (limit 5%), network 0.24 MB (limit 5 MB) over 2 h',
    );
    expect(tags[TAGS.warnedAt]).toBeUndefined();
    expect(alerts[0]?.subject).toBe('cost-watchdog: 1 stopped, 0 warned');
  });

  it('changes nothing and sends nothing in a dry run, with the same decisions', async () => {
    const due = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const fresh = addRunning();

    const dry = await sweep({ dryRun: true });

    expect(dry.decisions.map((d) => [d.instanceId, d.action])).toEqual([
      [due.instanceId, 'stop'],
      [fresh.instanceId, 'warn'],
    ]);
    expect(fleet.calls).toEqual([]);
    expect(alerts).toEqual([]);
    expect(fleet.find(fresh.instanceId)?.instance.tags[TAGS.warnedAt]).toBeUndefined();
  });

  it('honours dryRun in the policy', async () => {
    addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });

    const report = await sweep({ policy: policyWith({ dryRun: true }) });

    expect(report.dryRun).toBe(true);
    expect(fleet.calls).toEqual([]);
  });

  it('removes the warning of an instance that is busy again and sends no alert for it', async () => {
    const back = addRunning(
      { tags: { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' } },
      busyMetrics(),
    );

    const report = await sweep();

    expect(report.cleared).toEqual([back.instanceId]);
    expect(fleet.find(back.instanceId)?.instance.tags[TAGS.warnedAt]).toBeUndefined();
    expect(fleet.stopAttempts()).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it('reports a stop-protected instance found at stop time instead of stopping it', async () => {
    const guarded = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } }, idleMetrics(), true);

    const report = await sweep();

    expect(fleet.stopAttempts()).toEqual([]);
    expect(report.decisions[0]).toMatchObject({
      instanceId: guarded.instanceId,
      action: 'report',
      protection: 'stop-protected',
    });
  });

  it('does not stop an instance whose stop protection cannot be read', async () => {
    const unsure = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    fleet.fault = (op) =>
      op === 'isStopProtected' ? awsError('UnauthorizedOperation', 'not allowed') : undefined;

    const report = await sweep();

    expect(fleet.stopAttempts()).toEqual([]);
    expect(report.errors).toEqual([
      {
        region: 'us-east-1',
        instanceId: unsure.instanceId,
        operation: 'ec2:DescribeInstanceAttribute',
        message: 'UnauthorizedOperation: not allowed',
      },
    ]);
  });

  it('stops the others when one instance fails to stop, and lists the error', async () => {
    const a = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const b = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const c = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    fleet.fault = (op, _r, id) =>
      op === 'stop' && id === b.instanceId ? awsError('IncorrectInstanceState') : undefined;

    const report = await sweep();

    expect(report.stopped.sort()).toEqual([a.instanceId, c.instanceId].sort());
    expect(report.errors.map((e) => [e.instanceId, e.operation])).toEqual([
      [b.instanceId, 'ec2:StopInstances'],
    ]);
    expect(alerts[0]?.text).toMatch(/Errors \(1\); everything else went ahead/);
  });

  it('does not claim a stop when the owner had already stopped the instance a moment before', async () => {
    const due = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const services = fleet.services();
    const realEc2 = services.ec2;
    services.ec2 = (target) => {
      const ec2 = realEc2(target);
      return Object.assign(Object.create(Object.getPrototypeOf(ec2)), ec2, {
        stop: async (ids: string[]) =>
          ids.map((instanceId) => ({ instanceId, ok: true, state: 'stopped', previousState: 'stopped' })),
      });
    };

    const report = await sweep({ services });

    expect(report.stopped).toEqual([]);
    expect(report.cleared).toEqual([due.instanceId]);
    expect(fleet.find(due.instanceId)?.instance.tags[TAGS.stoppedAt]).toBeUndefined();
    expect(fleet.find(due.instanceId)?.instance.tags[TAGS.warnedAt]).toBeUndefined();
  });

  it('finishes the other regions when one region fails', async () => {
    const west = addRunning({ region: 'us-west-2' });
    fleet.add({ instance: makeInstance({ region: 'eu-west-1' }), state: 'running', stopProtected: false });
    fleet.fault = (op, region) =>
      op === 'listRunning' && region === 'eu-west-1'
        ? awsError('AuthFailure', 'region not enabled')
        : undefined;

    const report = await sweep({ targets: [{ region: 'eu-west-1' }, { region: 'us-west-2' }] });

    expect(report.scopes).toEqual([
      { region: 'eu-west-1', instances: 0, ok: false, error: 'AuthFailure: region not enabled' },
      { region: 'us-west-2', instances: 1, ok: true, metricsApi: 'GetMetricStatistics' },
    ]);
    expect(report.warned).toEqual([west.instanceId]);
  });

  it('judges nothing idle when CloudWatch is unavailable, and says so', async () => {
    const quiet = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    fleet.fault = (op) => (op === 'metrics' ? awsError('ServiceUnavailable') : undefined);

    const report = await sweep();

    expect(fleet.stopAttempts()).toEqual([]);
    expect(report.decisions[0]).toMatchObject({ instanceId: quiet.instanceId, action: 'none' });
    expect(report.errors[0]?.operation).toBe('cloudwatch:GetMetricStatistics');
  });

  it('judges the instances whose metrics arrived before CloudWatch failed, and no others idle', async () => {
    // Prepare: 250 idle instances; the metrics of the first 100 arrive (their CPU, then, CPU being low, their
    // network: two calls), then CloudWatch fails
    const idle = Array.from({ length: 250 }, () => addRunning());
    let metricsCalls = 0;
    fleet.fault = (op) =>
      op === 'metrics' && ++metricsCalls === 3 ? awsError('ServiceUnavailable') : undefined;

    // Act
    const report = await sweep();

    // Assess: warned only on measured idleness, decisions in DescribeInstances order, the failure reported
    expect(report.warned).toEqual(idle.slice(0, 100).map((i) => i.instanceId));
    expect(report.decisions.map((d) => d.instanceId)).toEqual(idle.map((i) => i.instanceId));
    expect(report.decisions.slice(100).every((d) => d.action === 'none')).toBe(true);
    expect(report.decisions[100]?.reasons).toContain('no CloudWatch metrics: not judged idle');
    expect(report.errors.map((e) => e.operation)).toEqual(['cloudwatch:GetMetricData']);
  });

  it('reads CPU first, and network only for instances whose CPU is low (what the metric APIs bill)', async () => {
    // Prepare: three busy instances, one idle
    const busy = [
      addRunning({}, busyMetrics()),
      addRunning({}, busyMetrics()),
      addRunning({}, busyMetrics()),
    ];
    const idle = addRunning();

    // Act
    const report = await sweep();

    // Assess: 4 CPU series + 2 network series, not 12; the same decisions as reading everything
    expect(fleet.seriesRead.sort()).toEqual(
      [
        ...busy.map((i) => `${i.instanceId}/cpu`),
        `${idle.instanceId}/cpu`,
        `${idle.instanceId}/networkIn`,
        `${idle.instanceId}/networkOut`,
      ].sort(),
    );
    expect(report.warned).toEqual([idle.instanceId]);
    expect(report.decisions.find((d) => d.instanceId === busy[0]?.instanceId)?.reasons.join()).toMatch(
      /busy: CPU avg 40\.0% \(limit 5%\) over 2 h; network not read \(CPU decides\)/,
    );
    const all = await sweep({ fullMetrics: true, dryRun: true });
    expect(all.decisions.map((d) => [d.instanceId, d.action, d.rule])).toEqual(
      report.decisions.map((d) => [d.instanceId, d.action === 'warn' ? 'warn' : d.action, d.rule]),
    );
  });

  it('reads the GPU of a low-CPU GPU instance with its network', async () => {
    fleet.types.set('g4dn.xlarge', { freeTierEligible: false, gpu: true });
    const gpu = addRunning(
      { instanceType: 'g4dn.xlarge', typeInfo: { freeTierEligible: false, gpu: true } },
      idleMetrics({ gpu: 90 }),
    );

    const report = await sweep();

    expect(fleet.seriesRead.filter((s) => s.startsWith(gpu.instanceId)).sort()).toEqual(
      ['cpu', 'gpu', 'networkIn', 'networkOut'].map((x) => `${gpu.instanceId}/${x}`),
    );
    expect(report.decisions[0]?.reasons.join()).toMatch(/busy: .*GPU avg 90\.0% of 5-min peaks \(limit 5%\)/);
  });

  it('sends no alert when nothing new happened', async () => {
    addRunning({ tags: { [TAGS.warnedAt]: NOW.toISOString(), [TAGS.warnRule]: 'idle' } });

    const report = await sweep();

    expect(report.decisions[0]?.action).toBe('warn');
    expect(report.warned).toEqual([]);
    expect(alerts).toEqual([]);
  });
});

describe('the sweep handler', () => {
  const env = (extra: Record<string, string> = {}) => ({
    AWS_REGION: 'us-east-1',
    TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
    POLICY_FILE: policyFile('regions: [us-east-1]\n'),
    ...extra,
  });
  const notifier = { publish: async () => 'id' } as never;

  beforeEach(() => {
    fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
  });

  it('fails on its first run with a message naming the missing variable', async () => {
    const handler = createSweepHandler({
      clock: () => NOW,
      env: { AWS_REGION: 'us-east-1' },
      services: fleet.services(),
      notifier,
    });

    await expect(handler({})).rejects.toThrow('environment variable TOPIC_ARN is not set');
  });

  it('refuses to run with an invalid policy, naming the field, before touching any instance', async () => {
    addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const handler = createSweepHandler({
      clock: () => NOW,
      env: env({ POLICY_FILE: policyFile('idle:\n  cpuPercent: -3\n') }),
      services: fleet.services(),
      notifier,
    });

    await expect(handler({})).rejects.toThrow(/idle\.cpuPercent: Too small/);
    expect(fleet.calls).toEqual([]);
  });

  it('returns a summary of what it did', async () => {
    const due = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const logs: unknown[] = [];
    const handler = createSweepHandler({
      clock: () => NOW,
      env: env(),
      services: fleet.services(),
      notifier,
      log: (r) => logs.push(r),
    });

    const summary = await handler({});

    expect(summary.stopped).toEqual([due.instanceId]);
    expect(summary.decisions).toEqual([
      expect.objectContaining({ instanceId: due.instanceId, action: 'stop', rule: 'idle' }),
    ]);
    expect(logs).toEqual([
      expect.objectContaining({ level: 'info', message: 'sweep: 1 seen, 0 warned, 1 stopped, 0 errors' }),
    ]);
  });

  it('throws after finishing when something failed, so the error alarm fires', async () => {
    const ok = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    const bad = addRunning({ tags: { [TAGS.warnedAt]: hoursAgo(2) } });
    fleet.fault = (op, _r, id) =>
      op === 'stop' && id === bad.instanceId ? awsError('IncorrectInstanceState') : undefined;
    const handler = createSweepHandler({
      clock: () => NOW,
      env: env(),
      services: fleet.services(),
      notifier,
      log: () => {},
    });

    const failure = await handler({}).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(SweepIncompleteError);
    expect((failure as SweepIncompleteError).summary.stopped).toEqual([ok.instanceId]);
  });
});
