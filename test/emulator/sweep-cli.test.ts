/**
 * The cost-watchdog CLI end to end against moto: in-process through main() with --endpoint-url, and as the
 * built executable (bin/cost-watchdog.mjs) that finds the emulator through AWS_ENDPOINT_URL alone.
 */
import { monthBounds } from '../../src/core/usage.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import type { SweepReport } from '../../src/core/report.js';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { UsageStore } from '../../src/aws/usage-store.js';
import type { SweepSummary } from '../../src/handlers/sweep.js';
import {
  BUSY,
  cli,
  hoursAfter,
  IDLE,
  instanceState,
  launchTimeOf,
  metricsSinceLaunch,
  minutesAfter,
  policyFile,
  sweepHandler,
} from './sweep-scenario.js';
import {
  awsEnv,
  clients,
  createTopic,
  endpoint,
  resetEmulator,
  seedInstances,
  sentMessages,
} from './support.js';

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

describe('one engine: the scheduled function and the CLI run the same sweep', () => {
  /** The fleet: alice's idle notebook, bob's busy box, an idle machine without owner. Returns ids by Name. */
  async function classFleet(): Promise<{ ids: Record<string, string>; t: Date; stopTime: Date }> {
    const names = ['alice-nb', 'bob-busy', 'lost'];
    // One after the other: DescribeInstances lists them in launch order, the same in both fleets.
    const ids: Record<string, string> = {};
    for (const name of names) {
      const tags: Record<string, string> = { Name: name };
      if (name === 'alice-nb') tags.Owner = 'alice';
      if (name === 'bob-busy') tags.Owner = 'bob';
      const [id] = (await seedInstances(REGION, { tags })) as [string];
      ids[name] = id;
    }
    const launch = await launchTimeOf(REGION, Object.values(ids));
    const t = hoursAfter(launch, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    for (const [name, id] of Object.entries(ids)) {
      await metricsSinceLaunch(REGION, id, name === 'bob-busy' ? BUSY : IDLE, launch, stopTime);
    }
    return { ids, t, stopTime };
  }

  /** What a run left behind, with instance ids replaced by Names so two fleets compare. */
  async function outcome(ids: Record<string, string>, reports: SweepSummary[]) {
    const byId = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
    const named = (text: string) => [...byId].reduce((s, [id, name]) => s.split(id).join(`<${name}>`), text);
    const tags = Object.fromEntries(
      await Promise.all(
        Object.entries(ids).map(async ([name, id]) => [name, await instanceState(REGION, id)] as const),
      ),
    );
    const usage = await clients(REGION).ssm.send(
      new GetParametersByPathCommand({ Path: '/cost-watchdog/usage', Recursive: true }),
    );
    return {
      reports: reports.map((r) =>
        JSON.parse(
          named(
            JSON.stringify({
              warned: r.warned,
              stopped: r.stopped,
              cleared: r.cleared,
              alertsSent: r.alertsSent,
              errors: r.errors,
              decisions: r.decisions
                .filter((d) => d.action !== 'none')
                .map(({ instanceId, action, rule, reasons, protection }) => ({
                  instanceId,
                  action,
                  rule,
                  reasons,
                  protection,
                })),
            }),
          ),
        ),
      ),
      messages: (await sentMessages(topicArn)).map((m) => ({
        subject: named(m.subject ?? ''),
        attributes: m.attributes,
        email: named((JSON.parse(m.message) as { email: string }).email),
      })),
      tags,
      usage: (usage.Parameters ?? []).map((p) => `${p.Name}=${named(p.Value ?? '')}`).sort(),
    };
  }

  it('gives the same reports, alerts, tags and usage metrics on the same fleet', async () => {
    // Act 1: the scheduled function at T and T + grace
    const first = await classFleet();
    const handler = sweepHandler({ region: REGION, topicArn, policy });
    const byHandler = await outcome(first.ids, [await handler.at(first.t), await handler.at(first.stopTime)]);

    // Act 2: the same fleet again, swept by the CLI at the same times
    await resetEmulator();
    topicArn = await createTopic(REGION);
    const second = await classFleet();
    const args = [
      '--endpoint-url',
      endpoint(),
      '--region',
      REGION,
      '--policy',
      policy,
      '--topic-arn',
      topicArn,
      '--json',
    ];
    const runs = [
      await cli('sweep', ...args, '--at', second.t.toISOString()),
      await cli('sweep', ...args, '--at', second.stopTime.toISOString()),
    ];
    const byCli = await outcome(
      second.ids,
      runs.map((r) => JSON.parse(r.out) as SweepReport),
    );

    // Assess: the same in every respect that is not an instance id or a time
    const times = (o: unknown) =>
      JSON.parse(JSON.stringify(o).replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z/g, '<time>'));
    expect(times(byCli)).toEqual(times(byHandler));
    expect(byHandler.reports[1]?.stopped).toEqual(['<alice-nb>', '<lost>']);
    expect(byHandler.messages.map((m) => m.attributes)).toContainEqual({ owner: 'alice' });
    expect(byHandler.usage.length).toBeGreaterThan(0);
  });

  it("shows over-budget in plan when this month's estimate has reached the budget", async () => {
    // Prepare: sweeps recorded $12 this month; the budget is $10
    const { ids, t } = await forgottenInstanceAndBudget(12);
    const budgetPolicy = policyFile(`regions: [${REGION}]\nbudget:\n  monthlyUsd: 10\n  action: stop\n`);

    // Act
    const plan = await cli(
      'plan',
      '--endpoint-url',
      endpoint(),
      '--region',
      REGION,
      '--policy',
      budgetPolicy,
      '--at',
      t.toISOString(),
      '--json',
    );

    // Assess
    expect(plan.code).toBe(0);
    const report = JSON.parse(plan.out) as SweepReport;
    expect(report.decisions).toEqual([
      expect.objectContaining({ instanceId: ids, rulesHolding: expect.arrayContaining(['over-budget']) }),
    ]);
    expect(report.decisions[0]?.reasons.join(' | ')).toMatch(
      /over budget: this month's estimated EC2 cost \$12\.00 has reached budget\.monthlyUsd \$10\.00/,
    );
  });

  /** A busy instance (no other rule holds) and $`usd` recorded for this month by earlier sweeps. */
  async function forgottenInstanceAndBudget(usd: number): Promise<{ ids: string; t: Date }> {
    const [id] = (await seedInstances(REGION, { tags: { Name: 'busy' } })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    await metricsSinceLaunch(REGION, id, BUSY, launch, t);
    await new UsageStore(clients(REGION).ssm).recordSweep(
      {
        months: [
          {
            month: monthBounds(t).start.toISOString(),
            at: new Date(t.getTime() - 60_000),
            instanceHours: 10,
            freeTierHours: 0,
            estimatedUsd: usd,
            byOwner: {},
          },
        ],
        instancesRunning: 1,
        unpriced: [],
      },
      0,
      new Date(t.getTime() - 60_000),
    );
    return { ids: id, t };
  }
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
