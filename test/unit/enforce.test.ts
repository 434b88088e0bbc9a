import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import type { FleetPort } from '../../src/core/ports.js';
import { clearWarnings, stopResources, writeWarnings } from '../../src/jobs/enforce.js';
import { hoursAgo, makeInstance, NOW } from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';

describe('enforce: the one place that changes a watched resource', () => {
  let fleet: InMemoryFleet;
  let ec2: FleetPort;
  const warned = { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' };

  function add(id: string, options: { stopProtected?: boolean; tags?: Record<string, string> } = {}) {
    fleet.add({
      instance: makeInstance({
        instanceId: id,
        tags: { Owner: 'alice', ...warned, ...(options.tags ?? {}) },
      }),
      state: 'running',
      stopProtected: options.stopProtected ?? false,
    });
  }

  beforeEach(() => {
    fleet = new InMemoryFleet();
    ec2 = fleet.services().ec2({ region: 'us-east-1' });
  });

  it('stops, records when, why and by whom, and removes the warning', async () => {
    add('i-1');

    const out = await stopResources(
      ec2,
      [{ instanceId: 'i-1', hibernate: false, reason: 'idle: CPU 0.4%' }],
      {
        by: 'sweep',
        now: NOW,
      },
    );

    expect(out).toEqual({ stopped: ['i-1'], alreadyStopped: [], refused: [], errors: [] });
    const tags = fleet.find('i-1')?.instance.tags ?? {};
    expect(fleet.find('i-1')?.state).toBe('stopped');
    expect(tags).toMatchObject({
      [TAGS.stoppedAt]: NOW.toISOString(),
      [TAGS.stopReason]: 'idle: CPU 0.4%',
      [TAGS.stoppedBy]: 'sweep',
    });
    expect(tags[TAGS.warnedAt]).toBeUndefined();
  });

  it("records the rule of a sweep's stop (what the morning start reads), and none for a stop without one", async () => {
    add('i-quiet');
    add('i-link');

    await stopResources(
      ec2,
      [{ instanceId: 'i-quiet', hibernate: false, reason: 'quiet hours', rule: 'quiet-hours' }],
      {
        by: 'sweep',
        now: NOW,
      },
    );
    await stopResources(ec2, [{ instanceId: 'i-link', hibernate: false, reason: 'stopped via link' }], {
      by: 'link',
      now: NOW,
    });

    expect(fleet.find('i-quiet')?.instance.tags[TAGS.stopRule]).toBe('quiet-hours');
    expect(fleet.find('i-link')?.instance.tags[TAGS.stopRule]).toBeUndefined();
  });

  it('cuts a stop reason to the 256-character tag limit, once, for every caller', async () => {
    add('i-1');

    await stopResources(ec2, [{ instanceId: 'i-1', hibernate: false, reason: 'x'.repeat(300) }], {
      by: 'link',
      now: NOW,
    });

    const reason = fleet.find('i-1')?.instance.tags[TAGS.stopReason] ?? '';
    expect(reason).toHaveLength(256);
    expect(reason.endsWith('...')).toBe(true);
  });

  it('refuses, with checkProtection, a stop-protected resource and one whose protection cannot be checked', async () => {
    add('i-guarded', { stopProtected: true });
    add('i-unknown');
    add('i-plain');
    fleet.fault = (op, _r, id) =>
      op === 'isStopProtected' && id === 'i-unknown' ? awsError('Throttling') : undefined;

    const out = await stopResources(
      ec2,
      ['i-guarded', 'i-unknown', 'i-plain'].map((instanceId) => ({
        instanceId,
        hibernate: false,
        reason: 'r',
      })),
      { by: 'link', now: NOW, checkProtection: true },
    );

    expect(out.stopped).toEqual(['i-plain']);
    expect(out.refused).toEqual([
      { instanceId: 'i-guarded', why: 'stop protection is on' },
      { instanceId: 'i-unknown', why: 'stop protection could not be checked' },
    ]);
    expect(fleet.stopAttempts()).toEqual(['i-plain']);
  });

  it('keeps going when one stop fails, and reports it', async () => {
    add('i-1');
    add('i-2');
    fleet.fault = (op, _r, id) =>
      op === 'stop' && id === 'i-1' ? awsError('IncorrectInstanceState') : undefined;

    const out = await stopResources(
      ec2,
      ['i-1', 'i-2'].map((instanceId) => ({ instanceId, hibernate: false, reason: 'r' })),
      { by: 'sweep', now: NOW },
    );

    expect(out.stopped).toEqual(['i-2']);
    expect(out.errors).toEqual([
      {
        instanceId: 'i-1',
        operation: 'StopInstances',
        message: 'IncorrectInstanceState: IncorrectInstanceState',
      },
    ]);
    expect(fleet.find('i-1')?.instance.tags[TAGS.warnedAt]).toBe(warned[TAGS.warnedAt]);
  });

  it('hibernates the resources launched with hibernation, in their own call', async () => {
    add('i-1');
    add('i-2');

    await stopResources(
      ec2,
      [
        { instanceId: 'i-1', hibernate: true, reason: 'r' },
        { instanceId: 'i-2', hibernate: false, reason: 'r' },
      ],
      { by: 'sweep', now: NOW },
    );

    const stops = fleet.calls.filter((c) => c.operation === 'stop');
    expect(stops.map((c) => [c.instanceIds, c.hibernate])).toEqual([
      [['i-2'], false],
      [['i-1'], true],
    ]);
  });

  it('writes warnings with one call per rule and clears them', async () => {
    add('i-1', { tags: { [TAGS.warnedAt]: '' } });
    add('i-2');
    add('i-3');

    const w = await writeWarnings(
      ec2,
      [
        { instanceId: 'i-1', rule: 'idle' },
        { instanceId: 'i-2', rule: 'idle' },
        { instanceId: 'i-3', rule: 'over-uptime' },
      ],
      NOW,
    );
    const c = await clearWarnings(ec2, ['i-2']);

    expect(w.warned).toEqual(['i-1', 'i-2', 'i-3']);
    expect(fleet.calls.filter((x) => x.operation === 'tag').map((x) => x.instanceIds)).toEqual([
      ['i-1', 'i-2'],
      ['i-3'],
    ]);
    expect(fleet.find('i-3')?.instance.tags).toMatchObject({
      [TAGS.warnedAt]: NOW.toISOString(),
      [TAGS.warnRule]: 'over-uptime',
    });
    expect(c.cleared).toEqual(['i-2']);
    expect(fleet.find('i-2')?.instance.tags[TAGS.warnedAt]).toBeUndefined();
  });
});
