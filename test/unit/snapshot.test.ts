import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { InputError } from '../../src/core/errors.js';
import { evaluate } from '../../src/core/evaluate.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { parseSnapshot, SNAPSHOT_FORMAT, type Snapshot, toSnapshotFile } from '../../src/core/snapshot.js';
import { makeInstance, NOW, steadyMetrics } from '../support/fleet.js';

const CLASSROOM = 'examples/classroom.json';

function sampleSnapshot(): Snapshot {
  return {
    takenAt: NOW,
    description: 'two boxes',
    fleet: [
      {
        instance: makeInstance({ account: '111111111111', publicIp: '203.0.113.5' }),
        metrics: steadyMetrics(0.5, 1_000),
      },
      {
        instance: makeInstance({
          instanceType: 'g4dn.xlarge',
          typeInfo: { freeTierEligible: false, gpu: true },
        }),
        metrics: { ...steadyMetrics(1, 1_000), gpu: [{ at: NOW.getTime() - 300_000, value: 0 }] },
      },
      { instance: makeInstance({ lifecycle: 'spot' }), metrics: undefined },
    ],
  };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env: {} }, out, err };
}

describe('snapshot files', () => {
  it('round-trips instances and metrics through JSON unchanged', () => {
    // Prepare
    const snapshot = sampleSnapshot();

    // Act
    const text = JSON.stringify(toSnapshotFile(snapshot));
    const back = parseSnapshot(text);

    // Assess
    expect(back).toEqual(snapshot);
    expect(JSON.parse(text).format).toBe(SNAPSHOT_FORMAT);
  });

  it('gives the same decisions for a recorded fleet as for the live one', () => {
    // Prepare
    const snapshot = sampleSnapshot();
    const live = snapshot.fleet.map((f) => evaluate(f.instance, f.metrics, DEFAULT_POLICY, NOW));

    // Act
    const replayed = parseSnapshot(JSON.stringify(toSnapshotFile(snapshot))).fleet.map((f) =>
      evaluate(f.instance, f.metrics, DEFAULT_POLICY, NOW),
    );

    // Assess
    expect(replayed).toEqual(live);
  });

  it.each([
    ['not JSON', '{"format": ', /^snap\.json: not valid JSON/],
    [
      'another format',
      JSON.stringify({ format: 'x', takenAt: NOW.toISOString(), instances: [] }),
      /^snap\.json: format: /,
    ],
    [
      'a bad launch time',
      JSON.stringify({
        format: SNAPSHOT_FORMAT,
        takenAt: NOW.toISOString(),
        instances: [
          { instanceId: 'i-1', region: 'us-east-1', instanceType: 't3.micro', launchTime: 'yesterday' },
        ],
      }),
      /^snap\.json: instances\.0\.launchTime: .*cost-watchdog snapshot/,
    ],
    [
      'a bad datapoint',
      JSON.stringify({
        ...toSnapshotFile(sampleSnapshot()),
        instances: [
          {
            ...toSnapshotFile(sampleSnapshot()).instances[0],
            metrics: { cpu: [['x', 1]], networkIn: [], networkOut: [] },
          },
        ],
      }),
      /^snap\.json: instances\.0\.metrics\.cpu\.0\.0: /,
    ],
  ])('rejects a file with %s, naming the JSON path', (_case, text, message) => {
    // Act
    const read = () => parseSnapshot(text, 'snap.json');

    // Assess
    expect(read).toThrow(InputError);
    expect(read).toThrow(message);
  });

  it('reads the classroom example the demo uses', () => {
    // Act
    const snapshot = parseSnapshot(readFileSync(CLASSROOM, 'utf8'), CLASSROOM);

    // Assess
    expect(snapshot.fleet.length).toBeGreaterThan(0);
    expect(snapshot.takenAt.toISOString()).toBe('2026-11-25T14:00:00.000Z');
  });
});

describe('cost-watchdog plan --snapshot', () => {
  it('evaluates a recorded fleet offline under another policy (what-if)', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'cw-snapshot-'));
    const fleet = join(dir, 'fleet.json');
    writeFileSync(
      fleet,
      JSON.stringify(
        toSnapshotFile({
          takenAt: NOW,
          fleet: [{ instance: makeInstance({ instanceId: 'i-0busy' }), metrics: steadyMetrics(3, 100) }],
        }),
      ),
    );
    const lenient = join(dir, 'lenient.yml');
    writeFileSync(lenient, 'idle:\n  cpuPercent: 1\n');
    const strict = join(dir, 'strict.yml');
    writeFileSync(strict, 'idle:\n  cpuPercent: 10\n');

    // Act
    const a = capture();
    const b = capture();
    const codeA = await main(['plan', '--snapshot', fleet, '--policy', lenient, '--json'], a.io);
    const codeB = await main(['plan', '--snapshot', fleet, '--policy', strict, '--json'], b.io);

    // Assess
    expect([codeA, codeB]).toEqual([0, 0]);
    const decide = (out: string[]) => JSON.parse(out.join('\n')).decisions[0];
    expect(decide(a.out)).toMatchObject({ instanceId: 'i-0busy', rule: null, action: 'none' });
    expect(decide(b.out)).toMatchObject({ instanceId: 'i-0busy', rule: 'idle', action: 'warn' });
  });

  it('names the file when it cannot be read', async () => {
    // Prepare
    const c = capture();

    // Act
    const code = await main(['plan', '--snapshot', '/nonexistent/fleet.json'], c.io);

    // Assess
    expect(code).toBe(1);
    expect(c.err.join('\n')).toMatch(/--snapshot: cannot read \/nonexistent\/fleet\.json/);
  });
});
