/**
 * Quiet hours from a class's night to its morning on an in-memory fleet: the sweep warns before the window, stops at
 * its start (recording the rule), the optional morning start starts again only what quiet hours stopped, plan shows
 * it, and the digest lists what quiet hours stopped and saved.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createSweepHandler } from '../../src/handlers/sweep.js';
import { BundledPrices } from '../../src/core/prices.js';
import { QUIET_HOURS_RUN_INPUT } from '../../src/core/quiet-schedules.js';
import { policyFile } from '../support/policy-file.js';
import { buildDigest, type DigestStop, renderDigest } from '../../src/core/digest.js';
import type { Instance } from '../../src/core/instance.js';
import { type Policy, TAGS } from '../../src/core/policy.js';
import { bundledPrice } from '../../src/core/prices.js';
import { morningStartDecision } from '../../src/core/quiet-hours.js';
import type { Alert } from '../../src/core/report.js';
import { runMorningStart } from '../../src/jobs/morning-start.js';
import { sweepNow } from '../../src/jobs/sweep-now.js';
import { digestInput, makeInstance, policyWith } from '../support/fleet.js';
import { InMemoryFleet } from './in-memory-fleet.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const home = { region: 'us-east-1' };
const at = (iso: string) => new Date(iso);

/** Weeknights 22:00-07:00 in Berlin (21:00-06:00 UTC in November), grace 60, one region. */
function nights(changes: Record<string, unknown> = {}): Policy {
  return policyWith({
    regions: ['us-east-1'],
    timeZone: 'Europe/Berlin',
    graceMinutes: 60,
    quietHours: { windows: [{ days: WEEKDAYS, from: '22:00', to: '07:00' }], morningStart: true, ...changes },
  });
}

/** The stop record the sweep leaves when quiet hours stop an instance at Wednesday's window start. */
const QUIET_STOP = {
  [TAGS.stoppedAt]: '2026-11-25T21:00:00.000Z',
  [TAGS.stopReason]: 'quiet hours from 2026-11-25T21:00:00.000Z until 2026-11-26T06:00:00.000Z',
  [TAGS.stoppedBy]: 'sweep',
  [TAGS.stopRule]: 'quiet-hours',
};

function stopped(tags: Record<string, string> = {}, overrides: Partial<Instance> = {}): Instance {
  return makeInstance({
    launchTime: '2026-11-25T16:00:00.000Z',
    tags: { Owner: 'alice', ...QUIET_STOP, ...tags },
    ...overrides,
  });
}

describe('which stopped instances the morning start starts', () => {
  const policy = nights();

  it('starts one quiet hours stopped at the window start once the window has ended', () => {
    const d = morningStartDecision(stopped(), policy, at('2026-11-26T06:00:00Z'));

    expect(d).toEqual({
      start: true,
      reason:
        'stopped by quiet hours at 2026-11-25T21:00:00.000Z; quiet hours ended at 2026-11-26T06:00:00.000Z',
      period: { start: '2026-11-25T21:00:00.000Z', end: '2026-11-26T06:00:00.000Z' },
    });
  });

  it('starts one quiet hours stopped later in the night (started during the window, then stopped)', () => {
    const d = morningStartDecision(
      stopped({ [TAGS.stoppedAt]: '2026-11-26T02:00:00.000Z' }, { launchTime: '2026-11-26T00:30:00.000Z' }),
      policy,
      at('2026-11-26T06:00:00Z'),
    );

    expect(d.start).toBe(true);
  });

  it.each([
    [
      'morning start is off',
      {},
      {},
      '2026-11-26T06:00:00Z',
      nights({ morningStart: false }),
      /morning start is off/,
    ],
    [
      'the window has not ended',
      {},
      {},
      '2026-11-26T05:59:00Z',
      policy,
      /quiet hours last until 2026-11-26T06:00/,
    ],
    ['the window ended 12 h ago', {}, {}, '2026-11-26T18:00:00Z', policy, /more than 12 h ago: left stopped/],
    [
      'stopped by its owner through a link',
      { [TAGS.stoppedBy]: 'link' },
      {},
      '2026-11-26T06:00:00Z',
      policy,
      /not stopped by quiet hours/,
    ],
    [
      'stopped for being idle',
      { [TAGS.stopRule]: 'idle' },
      {},
      '2026-11-26T06:00:00Z',
      policy,
      /not stopped by quiet hours/,
    ],
    [
      'stopped by someone else (no stop record)',
      { [TAGS.stopRule]: '', [TAGS.stoppedBy]: '' },
      {},
      '2026-11-26T06:00:00Z',
      policy,
      /not stopped by quiet hours/,
    ],
    [
      'started again since (its owner, in the night)',
      {},
      { launchTime: '2026-11-25T23:00:00.000Z' },
      '2026-11-26T06:00:00Z',
      policy,
      /started again since quiet hours stopped it/,
    ],
    [
      'already started by a morning start',
      { [TAGS.startedAt]: '2026-11-26T06:00:05.000Z' },
      {},
      '2026-11-26T07:00:00Z',
      policy,
      /already started again after this stop/,
    ],
    [
      'stopped outside quiet hours',
      { [TAGS.stoppedAt]: '2026-11-25T15:00:00.000Z' },
      { launchTime: '2026-11-25T12:00:00.000Z' },
      '2026-11-26T06:00:00Z',
      policy,
      /falls in no quiet period/,
    ],
    [
      'the next quiet hours are about to begin',
      {},
      {},
      '2026-11-26T06:00:00Z',
      nights({
        windows: [
          { days: WEEKDAYS, from: '22:00', to: '07:00' },
          { days: WEEKDAYS, from: '08:00', to: '09:00' },
        ],
      }),
      /the next quiet hours begin at 2026-11-26T07:00:00\.000Z: left stopped/,
    ],
  ])('leaves one stopped when %s', (_case, tags, overrides, now, p, reason) => {
    const d = morningStartDecision(stopped(tags, overrides), p, at(now));

    expect(d.start).toBe(false);
    expect(d.reason).toMatch(reason);
  });
});

describe('runMorningStart', () => {
  let fleet: InMemoryFleet;

  function add(id: string, state: 'running' | 'stopped', tags: Record<string, string>) {
    fleet.add({
      instance: makeInstance({
        instanceId: id,
        launchTime: '2026-11-25T16:00:00.000Z',
        tags: { Owner: 'alice', ...tags },
      }),
      state,
      stopProtected: false,
    });
  }

  beforeEach(() => {
    fleet = new InMemoryFleet();
    add('i-quiet', 'stopped', QUIET_STOP);
    add('i-link', 'stopped', { ...QUIET_STOP, [TAGS.stoppedBy]: 'link' });
    add('i-idle', 'stopped', { ...QUIET_STOP, [TAGS.stopRule]: 'idle' });
    add('i-own', 'stopped', {});
    add('i-running', 'running', QUIET_STOP);
  });

  it('starts only the instance quiet hours stopped, and records when and by what', async () => {
    const { report, errors } = await runMorningStart({
      policy: nights(),
      now: at('2026-11-26T06:00:00Z'),
      targets: [home],
      services: fleet.services(),
      dryRun: false,
    });

    expect(errors).toEqual([]);
    expect(report.started).toEqual(['i-quiet']);
    expect(fleet.startedIds()).toEqual(['i-quiet']);
    expect(report.decisions.map((d) => d.instanceId)).toEqual(['i-quiet']);
    for (const id of ['i-link', 'i-idle', 'i-own']) expect(fleet.find(id)?.state, id).toBe('stopped');
    expect(fleet.find('i-quiet')?.instance.tags).toMatchObject({
      [TAGS.startedAt]: '2026-11-26T06:00:00.000Z',
      [TAGS.startedBy]: 'morning-start',
    });
  });

  it('starts nothing in a dry run, and nothing twice', async () => {
    const run = (dryRun: boolean, now: string) =>
      runMorningStart({
        policy: nights(),
        now: at(now),
        targets: [home],
        services: fleet.services(),
        dryRun,
      });

    const dry = await run(true, '2026-11-26T06:00:00Z');
    expect(dry.report.decisions.filter((d) => d.start).map((d) => d.instanceId)).toEqual(['i-quiet']);
    expect(fleet.startedIds()).toEqual([]);

    await run(false, '2026-11-26T06:00:00Z');
    // Stopped again by its owner after the morning start: the old quiet-hours record no longer counts.
    const entry = fleet.find('i-quiet');
    if (entry) entry.state = 'stopped';
    const again = await run(false, '2026-11-26T07:00:00Z');

    expect(again.report.started).toEqual([]);
    expect(fleet.startedIds()).toEqual(['i-quiet']);
  });

  it('reports a failed start and goes on with the others', async () => {
    add('i-quiet-2', 'stopped', QUIET_STOP);
    fleet.fault = (op, _r, id) =>
      op === 'start' && id === 'i-quiet' ? new Error('InsufficientInstanceCapacity') : undefined;

    const { report, errors } = await runMorningStart({
      policy: nights(),
      now: at('2026-11-26T06:00:00Z'),
      targets: [home],
      services: fleet.services(),
      dryRun: false,
    });

    expect(report.started).toEqual(['i-quiet-2']);
    expect(errors).toEqual([
      expect.objectContaining({ instanceId: 'i-quiet', operation: 'ec2:StartInstances' }),
    ]);
  });
});

describe('a night of quiet hours through sweepNow', () => {
  it('warns before the window, stops at its start with the rule recorded, and starts it again in the morning', async () => {
    // Prepare: alice's notebook started on Wednesday afternoon; bob's is exempt
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    const notebook = makeInstance({
      instanceId: 'i-notebook',
      launchTime: '2026-11-25T16:00:00.000Z',
      tags: { Owner: 'alice' },
    });
    const exempt = makeInstance({
      instanceId: 'i-exempt',
      launchTime: '2026-11-25T16:00:00.000Z',
      tags: { Owner: 'bob', [TAGS.exempt]: 'true' },
    });
    fleet.add({ instance: notebook, state: 'running', stopProtected: false });
    fleet.add({ instance: exempt, state: 'running', stopProtected: false });
    const alerts: Alert[] = [];
    const sweep = (now: string) =>
      sweepNow(
        {
          policy: nights(),
          home,
          services: fleet.services(),
          alerts: { publish: async (a) => alerts.push(a) },
        },
        { now: at(now) },
      );

    // Act
    const warning = await sweep('2026-11-25T19:55:00Z');
    const stop = await sweep('2026-11-25T21:00:00Z');
    const night = await sweep('2026-11-26T03:00:00Z');
    const morning = await sweep('2026-11-26T06:00:00Z');

    // Assess
    expect([warning.warned, warning.stopped]).toEqual([['i-notebook'], []]);
    expect(warning.decisions.find((d) => d.instanceId === 'i-notebook')?.stopAfter).toBe(
      '2026-11-25T21:00:00.000Z',
    );
    expect([stop.warned, stop.stopped]).toEqual([[], ['i-notebook']]);
    expect(fleet.find('i-notebook')?.instance.tags).toMatchObject({
      [TAGS.stopRule]: 'quiet-hours',
      [TAGS.stoppedBy]: 'sweep',
      [TAGS.stoppedAt]: '2026-11-25T21:00:00.000Z',
    });
    expect(night.morningStart?.decisions.map((d) => [d.instanceId, d.start])).toEqual([
      ['i-notebook', false],
    ]);
    expect(morning.morningStart?.started).toEqual(['i-notebook']);
    expect(fleet.find('i-notebook')?.state).toBe('running');
    expect(fleet.find('i-exempt')?.state).toBe('running');
    expect(fleet.stopAttempts()).toEqual(['i-notebook']);
    const startAlerts = alerts.filter((a) => a.subject.includes('started after quiet hours'));
    expect(startAlerts.map((a) => [a.subject, a.owner])).toEqual([
      ['cost-watchdog: 1 started after quiet hours', undefined],
      ['cost-watchdog: 1 started after quiet hours (alice)', 'alice'],
    ]);
    expect(startAlerts[1]?.text).toContain('started again at Thu 26 Nov 2026 07:00 (Europe/Berlin)');
  });

  it("tells the owner when quiet hours begin and end, on the window's clock, and keeps until their end", async () => {
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    fleet.add({
      instance: makeInstance({
        instanceId: 'i-notebook',
        launchTime: '2026-11-25T16:00:00.000Z',
        tags: { Owner: 'alice' },
      }),
      state: 'running',
      stopProtected: false,
    });
    const alerts: Alert[] = [];

    await sweepNow(
      {
        policy: nights({ ownerTimeZones: { alice: 'America/New_York' } }),
        home,
        services: fleet.services(),
        alerts: { publish: async (a) => alerts.push(a) },
      },
      { now: at('2026-11-26T01:55:00Z') },
    );

    const owner = alerts.find((a) => a.owner === 'alice')?.text ?? '';
    expect(owner).toContain('Quiet hours (1):');
    expect(owner).toContain(
      "This account's quiet hours run from Wed 25 Nov 22:00 (America/New_York) until Thu 26 Nov 07:00 (America/New_York), and nothing is left running then unless it is kept.",
    );
    expect(owner).toContain('It will be stopped after Thu 26 Nov 04:00 (Europe/Berlin).');
    expect(owner).toContain('Using it does not change this');
  });
});

describe('the sweep handler at a quiet-hours edge', () => {
  it('records usage for a run of the policy schedule, and none for a quiet-hours run (no hours counted twice)', async () => {
    // Prepare
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    fleet.add({
      instance: makeInstance({ launchTime: '2026-11-25T16:00:00.000Z', tags: { Owner: 'alice' } }),
      state: 'running',
      stopProtected: false,
    });
    const recorded: string[] = [];
    const usage = {
      recordSweep: async (_u: unknown, _stops: number, now: Date) => {
        recorded.push(now.toISOString());
        return undefined as never;
      },
      monthEstimateUsd: async () => 0,
    };
    let now = at('2026-11-25T19:00:00Z');
    const handler = createSweepHandler({
      clock: () => now,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:cost-watchdog-alerts',
        POLICY_FILE: policyFile(
          'regions: [us-east-1]\nquietHours:\n  windows: [{ from: "22:00", to: "07:00", timeZone: Europe/Berlin }]\n',
        ),
      },
      services: fleet.services(),
      notifier: { publish: async () => undefined },
      costs: { prices: new BundledPrices(), usage },
    });

    // Act: the hourly run, then the quiet-hours run at the warning time
    await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    now = at('2026-11-25T19:55:00Z');
    const edge = await handler(QUIET_HOURS_RUN_INPUT);

    // Assess
    expect(recorded).toEqual(['2026-11-25T19:00:00.000Z']);
    expect(edge.warned).toHaveLength(1);
  });
});

describe('plan --at with quiet hours', () => {
  it('shows the quiet-hours warning before the window and the decision inside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-quiet-'));
    const policy = join(dir, 'quiet.yml');
    // The classroom snapshot (taken Wed 25 Nov 2026 14:00 UTC) under evening quiet hours in UTC.
    writeFileSync(
      policy,
      'regions: [us-east-1]\nmaxRunningHours: { freeTier: null, nonFreeTier: null }\nquietHours:\n  windows: [{ from: "18:00", to: "07:00" }]\n',
    );
    const plan = async (when: string) => {
      const out: string[] = [];
      await main(['plan', '--snapshot', 'examples/classroom.json', '--policy', policy, '--at', when], {
        out: (t) => out.push(t),
        err: () => undefined,
        env: {},
      });
      return out.join('\n');
    };

    const afternoon = await plan('2026-11-25T15:00:00Z');
    const evening = await plan('2026-11-25T16:55:00Z');

    expect(afternoon).not.toMatch(/quiet-hours/);
    expect(evening).toMatch(/alice-notebook +t3\.micro +us-east-1 +alice +WARN +quiet-hours/);
    expect(evening).toMatch(/dave-thesis-run .* REPORT +quiet-hours +exempt/);
    expect(evening).toContain(
      '- quiet hours from Wed 25 Nov 18:00 (UTC) until Thu 26 Nov 07:00 (UTC) (every day 18:00-07:00 UTC)',
    );
    expect(evening).toContain('- will be stopped after Wed 25 Nov 18:00 (UTC) unless this changes');
  });
});

describe('the digest with quiet hours', () => {
  const price = (type: string, region: string) => bundledPrice(type, region);
  const stop = (id: string, tags: Record<string, string>, state = 'stopped'): DigestStop => ({
    instanceId: id,
    region: 'us-east-1',
    instanceType: 't3.large',
    state,
    stoppedAt: tags[TAGS.stoppedAt] ?? '2026-11-26T02:00:00.000Z',
    launchTime: '2026-11-25T16:00:00.000Z',
    tags: { Owner: 'alice', ...tags },
  });

  it('lists what quiet hours stopped and started, and what their stops saved, apart from other stops', () => {
    // Prepare: now Thu 26 Nov 08:00 UTC; one quiet-hours stop still stopped (11 h), one started again at 06:00 (9 h)
    const quiet = stop('i-quiet', QUIET_STOP);
    const restarted = stop(
      'i-restarted',
      { ...QUIET_STOP, [TAGS.startedAt]: '2026-11-26T06:00:00.000Z', [TAGS.startedBy]: 'morning-start' },
      'running',
    );
    restarted.launchTime = '2026-11-26T06:00:00.000Z';
    const idle = stop('i-idle', {
      [TAGS.stoppedAt]: '2026-11-26T02:00:00.000Z',
      [TAGS.stoppedBy]: 'sweep',
      [TAGS.stopRule]: 'idle',
    });
    const hourly = price('t3.large', 'us-east-1').usdPerHour ?? 0;

    // Act
    const d = buildDigest({
      now: at('2026-11-26T08:00:00Z'),
      policy: nights(),
      regions: ['us-east-1'],
      running: [],
      prices: new Map([['us-east-1/t3.large', price('t3.large', 'us-east-1')]]),
      stops: [quiet, restarted, idle],
      volumes: [],
      addresses: [],
      stoppedDisks: [],
      month: null,
      errors: [],
    });
    const text = renderDigest(d).text;

    // Assess
    expect(d.quietHours?.windows).toEqual(['mon-fri 22:00-07:00 Europe/Berlin']);
    expect(d.quietHours?.stopsLastDay.map((s) => s.instanceId)).toEqual(['i-quiet', 'i-restarted']);
    expect(d.quietHours?.startedLastDay.map((s) => s.instanceId)).toEqual(['i-restarted']);
    expect(d.quietHours?.saved.sinceStops.usd).toBeCloseTo(Math.round((11 + 9) * hourly * 100) / 100, 2);
    expect(d.savings.sinceStops.usd).toBeGreaterThan(d.quietHours?.saved.sinceStops.usd ?? 0);
    expect(text).toContain('QUIET HOURS (mon-fri 22:00-07:00 Europe/Berlin)');
    expect(text).toContain('Stopped by quiet hours in the last 24 h (2):');
    expect(text).toContain('  - i-quiet (us-east-1, alice) at Wed 25 Nov 22:00');
    expect(text).toContain('Started again after quiet hours in the last 24 h (1):');
    expect(text).toMatch(
      /Saved by quiet hours: last 24 h \$\d+\.\d\d \(est\., table\), since each stop \$\d+\.\d\d/,
    );
  });

  it('has no quiet-hours part without windows or quiet-hours stops', () => {
    const d = buildDigest(digestInput({ now: at('2026-11-26T08:00:00Z') }));

    expect(d.quietHours).toBeNull();
    expect(renderDigest(d).text).not.toContain('QUIET HOURS');
  });
});
