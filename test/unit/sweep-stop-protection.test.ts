import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import { renderSweepAlert } from '../../src/core/render.js';
import { runSweep, STOP_PROTECTION_CHECKS_PER_TARGET } from '../../src/jobs/sweep.js';
import { DEFAULT_POLICY, hoursAgo, idleMetrics, makeInstance, NOW } from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';

const HOUR = 3_600_000;
let fleet: InMemoryFleet;

function addIdle(stopProtected: boolean, tags: Record<string, string> = {}) {
  const instance = makeInstance({ tags: { Owner: 'alice', ...tags } });
  fleet.add({ instance, state: 'running', stopProtected });
  // idle from 4 h before NOW to 4 h after it, for runs at later times
  fleet.metrics.set(instance.instanceId, idleMetrics({ hours: 8, now: new Date(NOW.getTime() + 4 * HOUR) }));
  return instance.instanceId;
}

const sweep = (now = NOW) =>
  runSweep({ policy: DEFAULT_POLICY, now, targets: [{ region: 'us-east-1' }], services: fleet.services() });

describe('the sweep and stop protection', () => {
  beforeEach(() => {
    fleet = new InMemoryFleet();
  });

  it('reports an idle stop-protected instance instead of warning about a stop that will never happen', async () => {
    // Prepare
    const guarded = addIdle(true);
    const plain = addIdle(false);

    // Act
    const report = await sweep();

    // Assess
    expect(report.warned).toEqual([plain]);
    expect(report.decisions.find((d) => d.instanceId === guarded)).toMatchObject({
      action: 'report',
      protection: 'stop-protected',
      newWarning: false,
    });
    expect(fleet.find(guarded)?.instance.tags[TAGS.warnedAt]).toBeUndefined();
  });

  it('stays quiet about a stop-protected instance run after run (no warning every other run)', async () => {
    // Prepare
    const guarded = addIdle(true);

    // Act
    const runs = [];
    for (const hours of [0, 1, 2, 3]) runs.push(await sweep(new Date(NOW.getTime() + hours * HOUR)));

    // Assess
    expect(runs.map((r) => r.decisions.find((d) => d.instanceId === guarded)?.action)).toEqual([
      'report',
      'report',
      'report',
      'report',
    ]);
    expect(runs.flatMap((r) => r.warned)).toEqual([]);
  });

  it('still warns when stop protection cannot be read, reports the error, and checks again before the stop', async () => {
    // Prepare
    const unsure = addIdle(false);
    fleet.fault = (op) =>
      op === 'isStopProtected' ? awsError('UnauthorizedOperation', 'not allowed') : undefined;

    // Act
    const report = await sweep();

    // Assess
    expect(report.warned).toEqual([unsure]);
    expect(report.errors).toEqual([
      expect.objectContaining({ instanceId: unsure, operation: 'ec2:DescribeInstanceAttribute' }),
    ]);
  });

  it('does not look up stop protection for instances that are neither warned now nor due', async () => {
    // Prepare: one warned 30 minutes ago (grace not over), so neither a new warning nor a stop
    addIdle(true, { [TAGS.warnedAt]: hoursAgo(0.5), [TAGS.warnRule]: 'idle' });
    let lookups = 0;
    fleet.fault = (op) => {
      if (op === 'isStopProtected') lookups++;
      return undefined;
    };

    // Act
    const report = await sweep();

    // Assess
    expect(report.decisions[0]).toMatchObject({ action: 'warn', newWarning: false });
    expect(lookups).toBe(0);
  });

  it(`checks at most ${STOP_PROTECTION_CHECKS_PER_TARGET} instances per region and run, stops first, and postpones the rest untouched`, async () => {
    // Prepare: 30 warned instances due to stop and 1,050 newly idle ones
    const due = Array.from({ length: 30 }, () =>
      addIdle(false, { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' }),
    );
    const fresh = Array.from({ length: 1_050 }, () => addIdle(false));
    let lookups = 0;
    fleet.fault = (op) => {
      if (op === 'isStopProtected') lookups++;
      return undefined;
    };

    // Act
    const first = await sweep();

    // Assess: every stop made, the first 970 new warnings written, 80 left for the next run without a tag
    expect(lookups).toBe(STOP_PROTECTION_CHECKS_PER_TARGET);
    expect([...first.stopped].sort()).toEqual([...due].sort());
    expect(first.warned).toHaveLength(970);
    expect(first.postponed).toEqual(fresh.slice(970));
    for (const id of first.postponed) {
      expect(fleet.find(id)?.instance.tags[TAGS.warnedAt]).toBeUndefined();
      expect(first.decisions.find((d) => d.instanceId === id)).toMatchObject({
        action: 'none',
        newWarning: false,
      });
    }
    expect(first.decisions.find((d) => d.instanceId === first.postponed[0])?.reasons.at(-1)).toBe(
      `warning postponed to the next run: at most ${STOP_PROTECTION_CHECKS_PER_TARGET} stop-protection checks per region per run`,
    );

    expect(renderSweepAlert(first, DEFAULT_POLICY).text).toContain('Postponed to the next run (80):');
    expect(renderSweepAlert(first, DEFAULT_POLICY).data).toMatchObject({ postponed: fresh.slice(970) });

    // Act 2: the next run warns the rest
    const second = await sweep(new Date(NOW.getTime() + 5 * 60_000));

    // Assess 2
    expect(second.warned).toEqual(fresh.slice(970));
    expect(second.postponed).toEqual([]);
  });

  it('postpones a due stop beyond the check limit and keeps its warning', async () => {
    // Prepare: more due stops than one run checks
    const due = Array.from({ length: STOP_PROTECTION_CHECKS_PER_TARGET + 5 }, () =>
      addIdle(false, { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' }),
    );

    // Act
    const report = await sweep();

    // Assess
    expect(report.stopped).toHaveLength(STOP_PROTECTION_CHECKS_PER_TARGET);
    expect(report.postponed).toEqual(due.slice(STOP_PROTECTION_CHECKS_PER_TARGET));
    for (const id of report.postponed) {
      expect(fleet.find(id)?.state).toBe('running');
      expect(fleet.find(id)?.instance.tags[TAGS.warnedAt]).toBe(hoursAgo(2));
      expect(report.decisions.find((d) => d.instanceId === id)?.action).toBe('warn');
    }
  });
});
