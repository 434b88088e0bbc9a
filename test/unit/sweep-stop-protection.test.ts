import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import { runSweep } from '../../src/jobs/sweep.js';
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
});
