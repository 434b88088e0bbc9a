/**
 * The cost-watchdog CLI end to end against moto: in-process through main() with --endpoint-url, and as the
 * built executable (bin/cost-watchdog.mjs) that finds the emulator through AWS_ENDPOINT_URL alone.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import type { SweepReport } from '../../src/core/report.js';
import {
  cli,
  hoursAfter,
  IDLE,
  instanceState,
  launchTimeOf,
  metricsSinceLaunch,
  minutesAfter,
  policyFile,
} from './sweep-scenario.js';
import { awsEnv, createTopic, endpoint, resetEmulator, seedInstances, sentMessages } from './support.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const REGION = 'us-east-1';
const GRACE_MINUTES = 60;

let topicArn: string;
let policy: string;

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
  policy = policyFile(`regions: [${REGION}]\ngraceMinutes: ${GRACE_MINUTES}\n`);
});

/** One idle t3.micro with metrics up to one grace period after T; returns its id and T. */
async function forgottenInstance(): Promise<{ id: string; t: Date; stopTime: Date }> {
  const [id] = (await seedInstances(REGION, { tags: { Name: 'forgotten' } })) as [string];
  const launch = await launchTimeOf(REGION, [id]);
  const t = hoursAfter(launch, 3);
  const stopTime = minutesAfter(t, GRACE_MINUTES);
  await metricsSinceLaunch(REGION, id, IDLE, launch, stopTime);
  return { id, t, stopTime };
}

describe('cost-watchdog sweep (in process)', () => {
  it('warns a forgotten idle instance at --at T and stops it at --at T + grace', async () => {
    // Prepare
    const { id, t, stopTime } = await forgottenInstance();
    const args = [
      '--endpoint-url',
      endpoint(),
      '--region',
      REGION,
      '--policy',
      policy,
      '--topic-arn',
      topicArn,
    ];

    // Act 1
    const first = await cli('sweep', ...args, '--at', t.toISOString(), '--json');

    // Assess 1
    expect(first.code).toBe(0);
    const warned = JSON.parse(first.out) as SweepReport;
    expect(warned).toMatchObject({ at: t.toISOString(), warned: [id], stopped: [], alertsSent: 1 });
    expect((await instanceState(REGION, id)).tags[TAGS.warnedAt]).toBe(t.toISOString());

    // Act 2
    const second = await cli('sweep', ...args, '--at', stopTime.toISOString());

    // Assess 2: the table output names the instance and says what was done
    expect(second.code).toBe(0);
    expect(second.out).toMatch(new RegExp(`${id}\\s+forgotten\\s+t3\\.micro\\s+${REGION}\\s+STOP\\s+idle`));
    expect(second.out).toContain('Done: 0 warned, 1 stopped, 0 warnings cleared, 1 alert(s) sent.');
    expect((await instanceState(REGION, id)).state).toBe('stopped');
    expect((await sentMessages(topicArn)).map((m) => m.subject)).toEqual([
      'cost-watchdog: 0 stopped, 1 warned',
      'cost-watchdog: 1 stopped, 0 warned',
    ]);
  });

  it('with --dry-run, decides as plan does and changes nothing', async () => {
    // Prepare
    const { id, t } = await forgottenInstance();
    const args = [
      '--endpoint-url',
      endpoint(),
      '--region',
      REGION,
      '--policy',
      policy,
      '--at',
      t.toISOString(),
    ];

    // Act
    const dry = await cli('sweep', ...args, '--topic-arn', topicArn, '--dry-run', '--json');
    const plan = await cli('plan', ...args, '--json');

    // Assess
    expect(dry.code).toBe(0);
    const dryReport = JSON.parse(dry.out) as SweepReport;
    const planReport = JSON.parse(plan.out) as SweepReport;
    expect(dryReport).toMatchObject({ dryRun: true, warned: [], stopped: [], alertsSent: 0 });
    expect(dryReport.decisions).toEqual(planReport.decisions);
    expect(dryReport.decisions).toEqual([
      expect.objectContaining({ instanceId: id, action: 'warn', rule: 'idle' }),
    ]);
    const now = await instanceState(REGION, id);
    expect(now.state).toBe('running');
    expect(now.tags[TAGS.warnedAt]).toBeUndefined();
    expect(await sentMessages(topicArn)).toEqual([]);
  });
});

describe('the built cost-watchdog executable', () => {
  beforeAll(async () => {
    await run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
  }, 120_000);

  /** Runs bin/cost-watchdog.mjs with only the environment pointing it at the emulator. */
  async function bin(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [join(ROOT, 'bin', 'cost-watchdog.mjs'), ...argv],
        {
          cwd: ROOT,
          env: { ...process.env, ...awsEnv(REGION) },
        },
      );
      return { code: 0, out: stdout, err: stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  }

  it('plans, warns and stops through AWS_ENDPOINT_URL, without --endpoint-url', async () => {
    // Prepare
    const { id, t, stopTime } = await forgottenInstance();
    const args = ['--region', REGION, '--policy', policy];

    // Act
    const plan = await bin('plan', ...args, '--at', t.toISOString());
    const first = await bin('sweep', ...args, '--at', t.toISOString(), '--topic-arn', topicArn, '--json');
    const second = await bin(
      'sweep',
      ...args,
      '--at',
      stopTime.toISOString(),
      '--topic-arn',
      topicArn,
      '--json',
    );

    // Assess
    expect(plan).toMatchObject({ code: 0 });
    expect(plan.out).toMatch(new RegExp(`${id}\\s+forgotten\\s+t3\\.micro\\s+${REGION}\\s+WARN\\s+idle`));
    expect(plan.out).toContain('(dry run: nothing changed)');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ warned: [id], stopped: [] });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.out)).toMatchObject({ warned: [], stopped: [id] });
    expect((await instanceState(REGION, id)).state).toBe('stopped');
    expect(await sentMessages(topicArn)).toHaveLength(2);
    // three node processes, each loading the SDK
  }, 120_000);

  it('exits with status 1 and names the flag when --at is not a time', async () => {
    // Act
    const res = await bin('sweep', '--at', 'yesterday', '--region', REGION);

    // Assess
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/--at: "yesterday" is not an ISO time/);
  });
});
