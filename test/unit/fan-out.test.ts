/**
 * The fan-out (src/core/fan-out.ts, src/jobs/fan-out.ts, src/handlers/sweep-worker.ts) with an in-memory fleet and
 * in-memory queues: a fanned-out run decides, tags, alerts and records usage as one invocation does; the worker's
 * retries; the summary's missing, late and duplicate runs; the messages' format and size.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ReadQueue, ReceivedMessage } from '../../src/aws/fan-out-queue.js';
import type { RunState } from '../../src/aws/run-claims.js';
import {
  FAN_OUT_VERSION,
  fanOutDeployed,
  fanOutWanted,
  isPassingFailure,
  mergeRun,
  parseTargetMessage,
  parseTargetResult,
  RESULT_MAX_BYTES,
  resultBody,
  runIdFor,
  runTimeOf,
  sumUsage,
  TARGET_ATTEMPTS,
  type TargetMessage,
  type TargetResult,
} from '../../src/core/fan-out.js';
import type { Decision } from '../../src/core/evaluate.js';
import { BundledPrices } from '../../src/core/prices.js';
import type { Alert } from '../../src/core/report.js';
import type { SweepUsage } from '../../src/core/usage.js';
import { renderSweepAlert } from '../../src/core/render.js';
import { createSweepHandler, type SweepSummary } from '../../src/handlers/sweep.js';
import { createSweepWorkerHandler, type SqsEvent } from '../../src/handlers/sweep-worker.js';
import type { FanOutDeps } from '../../src/jobs/fan-out.js';
import { hoursAgo, idleMetrics, makeInstance, NOW, policyWith } from '../support/fleet.js';
import { policyFile } from '../support/policy-file.js';
import { InMemoryFleet } from './in-memory-fleet.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-south-1'];
const POLICY = `regions: [${REGIONS.join(', ')}]\nfanOut: { mode: on, settleMinutes: 2 }\n`;
const SINGLE = `regions: [${REGIONS.join(', ')}]\n`;
const ENV = { AWS_REGION: 'us-east-1', TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts' };

/** SQS in memory: messages with receive counts and visibility, the redrive to the dead-letter queue after 3. */
class MemoryQueues {
  private seq = 0;
  readonly queues: Record<
    'targets' | ReadQueue,
    { id: string; body: string; count: number; visibleAt: number }[]
  > = { targets: [], results: [], deadLetter: [] };
  readonly retries: { receipt: string; seconds: number }[] = [];
  readonly released: string[] = [];
  failResultsWith: string | undefined;

  async sendTargets(bodies: readonly string[]) {
    for (const body of bodies)
      this.queues.targets.push({ id: `t${this.seq++}`, body, count: 0, visibleAt: 0 });
    return new Map<number, string>();
  }

  async sendResults(bodies: readonly string[]) {
    const failed = new Map<number, string>();
    bodies.forEach((body, k) => {
      if (this.failResultsWith) failed.set(k, this.failResultsWith);
      else this.queues.results.push({ id: `r${this.seq++}`, body, count: 0, visibleAt: 0 });
    });
    return failed;
  }

  async receive(queue: ReadQueue, _wait: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const now = Date.now();
    const visible = this.queues[queue].filter((m) => m.visibleAt <= now).slice(0, 10);
    if (visible.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (signal?.aborted) throw new Error('aborted');
      return [];
    }
    for (const m of visible) {
      m.count++;
      m.visibleAt = now + 60_000;
    }
    return visible.map((m) => ({ body: m.body, receipt: m.id, receiveCount: m.count }));
  }

  async delete(queue: ReadQueue, receipts: readonly string[]) {
    this.queues[queue] = this.queues[queue].filter((m) => !receipts.includes(m.id));
  }

  async release(queue: ReadQueue, receipts: readonly string[], seconds: number) {
    this.released.push(...receipts);
    for (const m of this.queues[queue])
      if (receipts.includes(m.id)) m.visibleAt = Date.now() + seconds * 1000;
  }

  async retryTargetLater(receipt: string, seconds: number) {
    this.retries.push({ receipt, seconds });
  }

  /**
   * Lambda's poller for the worker: hands the visible targets over in batches of 10 in Lambda's event shape, deletes
   * what the worker did not report as failed, makes the failed ones visible again and moves a message received
   * TARGET_ATTEMPTS times to the dead-letter queue (as the redrive policy does).
   */
  async drive(worker: (e: SqsEvent) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>) {
    for (;;) {
      const batch = this.queues.targets.slice(0, 10);
      if (batch.length === 0) return;
      for (const m of batch) m.count++;
      const { batchItemFailures } = await worker({
        Records: batch.map((m) => ({
          messageId: m.id,
          receiptHandle: m.id,
          body: m.body,
          attributes: { ApproximateReceiveCount: String(m.count) },
        })),
      });
      const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
      for (const m of batch) {
        if (!failed.has(m.id) || m.count >= TARGET_ATTEMPTS) {
          this.queues.targets = this.queues.targets.filter((x) => x !== m);
          if (failed.has(m.id)) this.queues.deadLetter.push({ ...m, count: 0, visibleAt: 0 });
        }
      }
    }
  }
}

/** SSM run claims in memory. */
class MemoryClaims {
  readonly runs = new Map<string, RunState>();
  async claim(runId: string) {
    if (this.runs.has(runId)) return false;
    this.runs.set(runId, 'running');
    return true;
  }
  async finish(runId: string) {
    this.runs.set(runId, 'summarized');
  }
  async state(runId: string) {
    return this.runs.get(runId);
  }
  async cleanUp() {
    return 0;
  }
}

/** The same fleet every time: in each region an idle instance of alice and an over-uptime one of bob. */
function classroom(): InMemoryFleet {
  const fleet = new InMemoryFleet();
  fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
  for (const region of REGIONS) {
    for (const [owner, launched] of [
      ['alice', 3],
      ['bob', 30],
    ] as const) {
      const instance = makeInstance({
        instanceId: `i-${region.replaceAll('-', '')}${owner}`,
        region,
        launchTime: hoursAgo(launched),
        tags: { Owner: owner },
      });
      fleet.add({ instance, state: 'running', stopProtected: false });
      fleet.metrics.set(instance.instanceId, idleMetrics());
    }
  }
  return fleet;
}

/** A scheduled sweep (and its worker) over `fleet`, recording alerts and usage; the clock is moved by runAt(). */
function stack(fleet: InMemoryFleet, policy: string, fan?: Partial<FanOutDeps>) {
  let now = NOW;
  const alerts: Alert[] = [];
  const recorded: { usage: SweepUsage; stops: number }[] = [];
  const queues = new MemoryQueues();
  const claims = new MemoryClaims();
  const env = { ...ENV, POLICY_FILE: policyFile(policy) };
  const costs = {
    prices: new BundledPrices(),
    usage: {
      recordSweep: async (usage: SweepUsage, stops: number) => {
        recorded.push({ usage, stops });
      },
      monthEstimateUsd: async () => 0,
    },
  };
  const logs: string[] = [];
  const sweep = createSweepHandler({
    clock: () => now,
    env,
    services: fleet.services(),
    notifier: { publish: async (a) => void alerts.push(a) },
    costs,
    log: (r) => logs.push(r.message),
    ...(policy.includes('fanOut')
      ? { fanOut: { queues, claims, clock: () => new Date(), maxWaitMs: 2_000, pollSeconds: 0, ...fan } }
      : {}),
  });
  const worker = createSweepWorkerHandler({
    clock: () => now,
    env,
    services: fleet.services(),
    queues,
    log: (r) => logs.push(r.message),
  });
  const invoke = (event: unknown) =>
    sweep(event).catch((err: { summary?: SweepSummary }) => {
      if (!err.summary) throw err;
      return err.summary;
    });
  /** The scheduled run, with the worker's trigger beside it. */
  const run = async (event: unknown = { source: 'aws.events' }): Promise<SweepSummary> => {
    const summary = invoke(event);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await queues.drive(worker);
    return summary;
  };
  return {
    run,
    runAt: (at: Date) => {
      now = at;
      return run();
    },
    /** The scheduled run while no worker runs. */
    sweepWithoutWorker: () => invoke({ source: 'aws.events' }),
    alerts,
    recorded,
    queues,
    claims,
    worker,
    logs,
  };
}

const byId = (ds: { instanceId: string }[]) =>
  [...ds].sort((a, b) => a.instanceId.localeCompare(b.instanceId));

describe('a fanned-out run', () => {
  it('decides, tags, alerts and records usage as one invocation sweeping every target does', async () => {
    // Prepare: the same classroom twice, one stack with the fan-out and one without
    const single = stack(classroom(), SINGLE);
    const fanned = stack(classroom(), POLICY);

    // Act
    const one = await single.run();
    const many = await fanned.run();

    // Assess: the same decisions, warnings, alerts (subjects and owners) and recorded hours
    expect(many.fanOut).toMatchObject({ targets: 3, results: 3, deadLettered: [], missing: [], late: [] });
    expect(byId(many.decisions)).toEqual(byId(one.decisions));
    expect([...many.warned].sort()).toEqual([...one.warned].sort());
    expect(many.warned).toHaveLength(6);
    expect(many.instancesSeen).toBe(one.instancesSeen);
    expect(fanned.alerts.map((a) => [a.subject, a.owner])).toEqual(
      single.alerts.map((a) => [a.subject, a.owner]),
    );
    expect(fanned.recorded).toHaveLength(1);
    expect(fanned.recorded[0]?.usage.months[0]?.byOwner).toEqual(
      single.recorded[0]?.usage.months[0]?.byOwner,
    );
    expect(fanned.recorded[0]?.usage.months[0]?.instanceHours).toBeCloseTo(
      single.recorded[0]?.usage.months[0]?.instanceHours ?? 0,
      6,
    );
    expect(fanned.claims.runs.get(runIdFor(NOW, false))).toBe('summarized');
    expect(fanned.queues.queues.results).toEqual([]);
  });

  it('records no usage in a quiet-hours run, and sends nothing for a second invocation of the same run', async () => {
    // Prepare
    const fanned = stack(classroom(), POLICY);

    // Act
    const quiet = await fanned.run({ run: 'quiet-hours' });
    const scheduled = await fanned.run();
    const alertsBefore = fanned.alerts.length;
    const again = await fanned.run();

    // Assess
    expect(quiet.fanOut?.runId).toBe(runIdFor(NOW, true));
    expect(scheduled.fanOut?.runId).toBe(runIdFor(NOW, false));
    expect(fanned.recorded).toHaveLength(1);
    expect(again.fanOut).toMatchObject({ duplicate: true, results: 0 });
    expect(fanned.alerts).toHaveLength(alertsBefore);
    expect(fanned.queues.queues.targets).toEqual([]);
  });

  it('names a target without a result by the deadline, and reports its result as late in the next run', async () => {
    // Prepare: a worker that is not running during the first run
    const fleet = classroom();
    const fanned = stack(fleet, POLICY, { maxWaitMs: 50 });

    // Act 1: the run ends before any worker answered
    const first = await fanned.sweepWithoutWorker();

    // Assess 1: every target named as missing, nothing warned yet
    expect(first.fanOut?.missing).toHaveLength(3);
    expect(first.errors.map((e) => e.operation)).toEqual(Array(3).fill('fan-out (no result yet)'));

    // Act 2: the workers catch up, then the next run an hour later
    await fanned.queues.drive(fanned.worker);
    const later = new Date(NOW.getTime() + 3_600_000);
    const second = await fanned.runAt(later);

    // Assess 2: the first run's results are merged as late, their warnings alerted now
    expect(second.fanOut?.late.map((l) => l.runId)).toEqual(Array(3).fill(runIdFor(NOW, false)));
    expect(second.warned.length).toBeGreaterThan(0);
    expect(fanned.alerts.some((a) => a.owner === 'alice')).toBe(true);
  });
});

/** A target message of run NOW for `target`. */
function message(target: TargetMessage['target'], extra: Partial<TargetMessage> = {}): string {
  const m: TargetMessage = {
    v: FAN_OUT_VERSION,
    kind: 'target',
    runId: runIdFor(NOW, false),
    at: NOW.toISOString(),
    index: 0,
    total: 1,
    target,
    ...extra,
  };
  return JSON.stringify(m);
}

function event(body: string, receiveCount = 1): SqsEvent {
  return {
    Records: [
      {
        messageId: 'm1',
        receiptHandle: 'r1',
        body,
        attributes: { ApproximateReceiveCount: String(receiveCount) },
      },
    ],
  };
}

describe('the sweep-worker', () => {
  let fleet: InMemoryFleet;
  let queues: MemoryQueues;
  let logs: string[];
  const worker = (policy = SINGLE) =>
    createSweepWorkerHandler({
      clock: () => NOW,
      env: { ...ENV, POLICY_FILE: policyFile(policy) },
      services: fleet.services(),
      queues,
      log: (r) => logs.push(r.message),
    });

  beforeEach(() => {
    fleet = classroom();
    queues = new MemoryQueues();
    logs = [];
  });

  it.each([
    [1, true],
    [TARGET_ATTEMPTS - 1, true],
    [TARGET_ATTEMPTS, false],
  ])(
    'on attempt %i of a region that is throttled as a whole, asks again later: %s',
    async (attempt, again) => {
      // Prepare: DescribeInstances throttled in us-east-1
      fleet.fault = (operation, region) =>
        operation === 'listRunning' && region === 'us-east-1'
          ? Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' })
          : undefined;

      // Act
      const out = await worker()(event(message({ region: 'us-east-1' }), attempt));

      // Assess: a retry after a backoff, or on the last attempt the result naming the failure
      expect(out.batchItemFailures.length > 0).toBe(again);
      expect(queues.retries).toEqual(again ? [{ receipt: 'r1', seconds: 15 * attempt }] : []);
      const results = queues.queues.results.map((m) => parseTargetResult(m.body));
      expect(results).toEqual(
        again
          ? []
          : [
              expect.objectContaining({
                scope: expect.objectContaining({ ok: false, region: 'us-east-1' }),
                errors: [expect.objectContaining({ operation: 'ec2:DescribeInstances' })],
              }),
            ],
      );
    },
  );

  it('sends the result of a region denied to it at once, without retrying', async () => {
    fleet.fault = (operation) =>
      operation === 'listRunning'
        ? Object.assign(new Error('no'), { name: 'UnauthorizedOperation' })
        : undefined;

    const out = await worker()(event(message({ region: 'eu-west-1' })));

    expect(out.batchItemFailures).toEqual([]);
    expect(queues.queues.results).toHaveLength(1);
  });

  it.each([
    ['a result sent whole: only its counts and errors (the planner logs the decisions)', 2, false],
    ['a result cut to fit its message: the whole result, every decision', 1_500, true],
  ])('logs %s', async (_, instances, cut) => {
    // Prepare: `instances` idle instances in us-east-1, each a decision; records logged in full
    fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    for (let k = 0; k < instances; k++) {
      const instance = makeInstance({ instanceId: `i-${String(k).padStart(17, '0')}`, region: 'us-east-1' });
      fleet.add({ instance, state: 'running', stopProtected: false });
      fleet.metrics.set(instance.instanceId, idleMetrics());
    }
    const records: Record<string, unknown>[] = [];
    const handler = createSweepWorkerHandler({
      clock: () => NOW,
      env: { ...ENV, POLICY_FILE: policyFile(SINGLE) },
      services: fleet.services(),
      queues,
      log: (r) => records.push(r),
    });

    // Act
    await handler(event(message({ region: 'us-east-1' })));

    // Assess
    const [sent] = queues.queues.results.map((m) => parseTargetResult(m.body));
    const line = records.find((r) => /^sweep-worker: .* seen/.test(String(r.message)));
    expect(sent?.decisions.length ?? 0).toBeGreaterThan(0);
    expect(Boolean(sent?.omitted)).toBe(cut);
    if (cut) {
      const logged = (line?.result as { decisions: unknown[] } | undefined)?.decisions ?? [];
      expect(logged.length).toBeGreaterThan(sent?.decisions.length ?? 0);
      expect(logged.length).toBeGreaterThanOrEqual(1_000);
    } else {
      expect(line).not.toHaveProperty('result');
      expect(line).toMatchObject({ scope: { region: 'us-east-1', instances }, errors: [] });
      expect(JSON.stringify(line).length).toBeLessThan(600);
    }
  });

  it('never sweeps an account the policy does not name, and says so in the result', async () => {
    const out = await worker()(event(message({ region: 'us-east-1', account: '999988887777' })));

    expect(out.batchItemFailures).toEqual([]);
    const [result] = queues.queues.results.map((m) => parseTargetResult(m.body));
    expect(result?.scope).toMatchObject({ ok: false, account: '999988887777' });
    expect(result?.errors[0]?.message).toMatch(/not in the policy's accounts/);
    expect(fleet.calls).toEqual([]);
  });

  it('drops a message that is not a target of this stack, and retries one whose result could not be sent', async () => {
    const dropped = await worker()(event('{"hello":"world"}'));
    queues.failResultsWith = 'KMS.AccessDenied: no';
    const unsent = await worker()(event(message({ region: 'us-east-1' })));

    expect(dropped.batchItemFailures).toEqual([]);
    expect(logs.some((l) => /dropped a message: InputError: message.v/.test(l))).toBe(true);
    expect(unsent.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
  });
});

describe('fan-out bookkeeping', () => {
  it.each([
    ['auto', 50, false, false],
    ['auto', 51, false, true],
    ['auto', 1_000, true, false],
    ['on', 1, false, true],
    ['off', 4_000, false, false],
  ] as const)(
    'mode %s with %i targets (not deployed: %s) fans out: %s',
    (mode, targets, notDeployed, wanted) => {
      const policy = policyWith({ fanOut: { mode }, accounts: [{ id: '111122223333' }] });

      expect(fanOutWanted(policy, targets, !notDeployed)).toBe(wanted);
    },
  );

  it('deploys the fan-out with mode on, or auto with member accounts; never for one account on auto', () => {
    expect(fanOutDeployed(policyWith())).toBe(false);
    expect(fanOutDeployed(policyWith({ organization: true }))).toBe(true);
    expect(fanOutDeployed(policyWith({ accounts: [{ id: '111122223333' }] }))).toBe(true);
    expect(fanOutDeployed(policyWith({ fanOut: { mode: 'on' } }))).toBe(true);
    expect(fanOutDeployed(policyWith({ fanOut: { mode: 'off' }, organization: true }))).toBe(false);
  });

  it('names a run by its minute and kind, and reads the time back', () => {
    const id = runIdFor(new Date('2026-01-15T10:00:42.123Z'), false);

    expect(id).toBe('20260115T1000Z-schedule');
    expect(runIdFor(new Date('2026-01-15T10:00:42Z'), true)).toBe('20260115T1000Z-quiet-hours');
    expect(runTimeOf(id)?.toISOString()).toBe('2026-01-15T10:00:00.000Z');
    expect(runTimeOf('signing-key')).toBeNull();
  });

  it.each([
    ['not JSON', 'message'],
    [JSON.stringify({ v: 2, kind: 'target' }), 'message.v'],
    [message({ region: 'Mars-1' }), 'message.target.region'],
    [message({ region: 'us-east-1', account: '12' }), 'message.target.account'],
    [message({ region: 'us-east-1' }, { index: 3, total: 3 }), 'message.total'],
  ])('refuses a target message %s, naming %s', (body, field) => {
    expect(() => parseTargetMessage(body)).toThrow(expect.objectContaining({ name: 'InputError', field }));
  });

  it('classes throttling, 5xx and timeouts as passing, access and configuration failures as lasting', () => {
    for (const m of [
      'RequestLimitExceeded: Request limit exceeded.',
      'ThrottlingException: Rate exceeded',
      'InternalError: We encountered an internal error',
      'TimeoutError: socket hang up',
      'ServiceUnavailable: try again',
    ])
      expect(isPassingFailure(m), m).toBe(true);
    for (const m of ['UnauthorizedOperation: no', 'AccessDenied: no', 'OptInRequired: region not enabled'])
      expect(isPassingFailure(m), m).toBe(false);
  });

  it('cuts a result to one message: reports first, then other warnings, keeping stops and new warnings', () => {
    // Prepare: 3,000 decisions of about 300 bytes, 10 of them stops and 10 new warnings
    const decision = (k: number, action: Decision['action']) =>
      ({
        instanceId: `i-${String(k).padStart(17, '0')}`,
        action,
        region: 'us-east-1',
        reasons: ['x'.repeat(250)],
      }) as unknown as Decision;
    const decisions = Array.from({ length: 3_000 }, (_, k) => decision(k, k < 20 ? 'warn' : 'report'));
    decisions[0] = { ...decisions[0], action: 'stop' } as Decision;
    const result: TargetResult = {
      v: FAN_OUT_VERSION,
      kind: 'result',
      runId: runIdFor(NOW, false),
      at: NOW.toISOString(),
      index: 0,
      target: { region: 'us-east-1' },
      attempt: 1,
      dryRun: false,
      scope: { region: 'us-east-1', instances: 3_000, ok: true },
      decisions,
      warned: decisions.slice(1, 11).map((d) => d.instanceId),
      stopped: [decisions[0]?.instanceId ?? ''],
      cleared: [],
      postponed: [],
      errors: [],
    };

    // Act
    const body = resultBody(result);
    const back = parseTargetResult(body);

    // Assess
    expect(new TextEncoder().encode(body).length).toBeLessThanOrEqual(RESULT_MAX_BYTES);
    expect(back.omitted).toBe(3_000 - back.decisions.length);
    expect(back.decisions.length).toBeGreaterThan(500);
    const kept = new Set(back.decisions.map((d) => d.instanceId));
    for (const id of [...result.stopped, ...result.warned]) expect(kept.has(id), id).toBe(true);
    expect(back.decisions.slice(0, 20).map((d) => d.action)).toEqual(
      decisions.slice(0, 20).map((d) => d.action),
    );
    expect(resultBody({ ...result, decisions: decisions.slice(0, 5) })).toBe(
      JSON.stringify({ ...result, decisions: decisions.slice(0, 5) }),
    );
  });

  it('adds up the usage of targets per month and owner', () => {
    const part = (owner: string, hours: number): SweepUsage => ({
      months: [
        {
          month: '2026-11-01T00:00:00.000Z',
          at: NOW,
          instanceHours: hours,
          freeTierHours: hours,
          estimatedUsd: hours / 100,
          byOwner: { [owner]: { hours, usd: hours / 100 } },
        },
      ],
      instancesRunning: 1,
      unpriced: [],
    });

    const sum = sumUsage([part('alice', 1), part('bob', 2), part('alice', 0.5)]);

    expect(sum.instancesRunning).toBe(3);
    expect(sum.months).toHaveLength(1);
    expect(sum.months[0]).toMatchObject({
      instanceHours: 3.5,
      byOwner: { alice: { hours: 1.5 }, bob: { hours: 2 } },
    });
  });

  it('merges results in target order, failing the unsent, dead-lettered and missing targets by name', () => {
    const targets = [
      { region: 'us-east-1' },
      { region: 'eu-west-1', account: '111122223333' },
      { region: 'a-b-1' },
    ];
    const ok = (index: number): TargetResult => ({
      v: FAN_OUT_VERSION,
      kind: 'result',
      runId: 'r',
      at: NOW.toISOString(),
      index,
      target: targets[index] ?? { region: '-' },
      attempt: 1,
      dryRun: false,
      scope: { region: 'us-east-1', instances: 2, ok: true },
      decisions: [],
      warned: [],
      stopped: [],
      cleared: [],
      postponed: [],
      errors: [],
    });

    const { report } = mergeRun({
      at: NOW.toISOString(),
      dryRun: false,
      runId: 'r',
      targets: [...targets, { region: 'us-west-2' }],
      results: new Map([[0, ok(0)]]),
      deadLettered: new Set([1]),
      unsent: new Map([[2, 'AccessDenied: no']]),
      late: [],
      lateDeadLettered: [],
      settleMinutes: 12,
    });

    expect(report.scopes.map((s) => s.ok)).toEqual([true, false, false, false]);
    expect(report.errors.map((e) => [e.account ?? '', e.region, e.operation])).toEqual([
      ['111122223333', 'eu-west-1', 'fan-out (dead-letter queue)'],
      ['', 'a-b-1', 'sqs:SendMessageBatch'],
      ['', 'us-west-2', 'fan-out (no result yet)'],
    ]);
    expect(report.fanOut).toMatchObject({ targets: 4, results: 1, missing: [{ region: 'us-west-2' }] });
    expect(report.instancesSeen).toBe(2);
    // The admin's summary says each whole, not cut to fit a line.
    const text = renderSweepAlert(report, policyWith({})).text;
    expect(text).toContain('none after 12 min (still queued or running); the next summary lists it as late');
    expect(text).toContain('the worker failed 3 times on this target; its log says why');
  });
});
