/**
 * The fan-out's planner and summary, both in the scheduled sweep's invocation (docs/scale.md, "Fan-out"): claim the
 * run, send one message per target to the targets queue, wait for the workers' results (and the dead-letter queue)
 * until every target has answered or the deadline has passed, merge them into one report, then send the alerts, the
 * morning-start alerts and the usage record exactly as an invocation that swept every target itself would.
 */
import type { AwsTarget } from '../aws/clients.js';
import type { FanOutQueues, ReadQueue, ReceivedMessage } from '../aws/fan-out-queue.js';
import type { RunClaims } from '../aws/run-claims.js';
import { describeError } from '../core/errors.js';
import type { EvaluateContext } from '../core/evaluate.js';
import {
  FAN_OUT_VERSION,
  type FanOutSummary,
  mergeRun,
  parseTargetMessage,
  parseTargetResult,
  runIdFor,
  runTimeOf,
  type TargetMessage,
  type TargetRef,
  type TargetResult,
} from '../core/fan-out.js';
import type { Logger } from '../core/log.js';
import { renderMorningStartAlerts } from '../core/morning-start.js';
import { emptySweepReport, type RunError, type SweepReport } from '../core/report.js';
import { actionLinksOption } from './action-links.js';
import { publishSweepAlerts } from './sweep-alerts.js';
import type { SweepJobDeps } from './sweep-now.js';
import { recordUsage } from './usage.js';

/** ReceiveMessage calls kept waiting on the results queue at once (each takes up to 10 results). */
export const RESULT_READERS = 4;

/** A run whose claim still says "running" this long after its time has ended without a summary (Lambda's limit). */
export const RUN_MAX_MS = 15 * 60_000;

/** The longest the scheduled sweep waits for results: its 15-minute timeout less time for the summary. */
export const MAX_WAIT_MS = 13 * 60_000;

/** Seconds another run's message stays hidden after this run read it by mistake (then that run reads it). */
const LEAVE_SECONDS = 20;

/** What the fan-out needs besides the sweep's own services. */
export interface FanOutDeps {
  queues: Pick<FanOutQueues, 'sendTargets' | 'receive' | 'delete' | 'release'>;
  claims: Pick<RunClaims, 'claim' | 'finish' | 'state' | 'cleanUp'>;
  /** The real time, for the deadline. */
  clock: () => Date;
  /** The longest wait for results from the start of the run (default: the policy's settle time, at most MAX_WAIT_MS). */
  maxWaitMs?: number;
  /** Seconds one ReceiveMessage waits for a message (long polling; default and SQS's maximum: 20). */
  pollSeconds?: number;
  log?: Logger;
}

/** What the planner knows when it fans out. */
export interface FanOutInput {
  targets: AwsTarget[];
  budget: { estimateUsd: number; context: EvaluateContext } | null;
  now: Date;
  extraRun: boolean;
}

/**
 * Runs one sweep as a fan-out and returns its report: claims the run (a second invocation for the same run returns
 * an empty report marked `duplicate` and sends nothing), sends the targets, collects results until every target has
 * one (or sits in the dead-letter queue) or the deadline passes, and finishes like sweepNow(): alerts with links,
 * morning-start alerts, one usage record (not for a quiet-hours run). Results of earlier runs that came after their
 * summary are merged as late. Results are deleted from the queue only after the summary went out.
 */
export async function runFanOut(
  deps: SweepJobDeps,
  fan: FanOutDeps,
  input: FanOutInput,
): Promise<SweepReport> {
  const { policy, alerts, links, usage } = deps;
  const { targets, now, extraRun } = input;
  const runId = runIdFor(now, extraRun);
  const at = now.toISOString();
  const started = fan.clock().getTime();
  const log = fan.log ?? (() => undefined);
  const dryRun = policy.dryRun;

  if (!(await fan.claims.claim(runId, { at, targets: targets.length }))) {
    log({
      level: 'warn',
      message: `sweep: run ${runId} was already claimed by another invocation; nothing done`,
    });
    return {
      ...emptySweepReport(at, dryRun),
      fanOut: { ...emptySummary(runId, targets.length), duplicate: true },
    };
  }
  // The claims of runs a few days old go while this run waits for its results.
  const cleanUp = fan.claims.cleanUp(now).catch((err: unknown) => {
    log({ level: 'warn', message: `sweep: old run claims not cleaned up: ${describeError(err)}` });
    return 0;
  });

  // A member account that could not be reached while resolving (AssumeRole, ListAccounts) is a failed scope now.
  const results = new Map<number, TargetResult>();
  const bodies: string[] = [];
  const sentIndex: number[] = [];
  targets.forEach((t, index) => {
    const target: TargetRef = { region: t.region, ...(t.account ? { account: t.account } : {}) };
    if (t.unavailable) {
      results.set(index, unavailableResult(runId, at, index, target, t.unavailable, dryRun));
      return;
    }
    const message: TargetMessage = {
      v: FAN_OUT_VERSION,
      kind: 'target',
      runId,
      at,
      index,
      total: targets.length,
      target,
      ...(extraRun ? { extraRun: true as const } : {}),
      ...(input.budget ? { context: input.budget.context } : {}),
    };
    bodies.push(JSON.stringify(message));
    sentIndex.push(index);
  });
  const unsent = new Map<number, string>();
  for (const [k, why] of await fan.queues.sendTargets(bodies)) unsent.set(sentIndex[k] as number, why);
  const pending = new Set(sentIndex.filter((k) => !unsent.has(k)));
  log({
    level: 'info',
    message: `sweep: run ${runId} fanned out ${pending.size} of ${targets.length} targets`,
  });

  const waitMs = Math.min(fan.maxWaitMs ?? policy.fanOut.settleMinutes * 60_000, MAX_WAIT_MS);
  const collected = await collect(fan, { runId, runAt: now, pending, deadline: started + waitMs, log });
  for (const [k, r] of collected.results) results.set(k, r);

  const merged = mergeRun({
    at,
    dryRun,
    runId,
    targets: targets.map((t) => ({ region: t.region, ...(t.account ? { account: t.account } : {}) })),
    results,
    deadLettered: collected.deadLettered,
    unsent,
    late: collected.late,
    lateDeadLettered: collected.lateDeadLettered,
    settleMinutes: Math.round(waitMs / 60_000),
  });
  const report = merged.report;
  report.errors.push(...collected.errors);

  if (alerts) {
    await publishSweepAlerts(report, {
      policy,
      publish: (a) => alerts.publish(a),
      dryRunAsked: false,
      ...actionLinksOption(links, policy, now),
    });
    if (report.morningStart && !report.dryRun) {
      for (const alert of renderMorningStartAlerts(report.morningStart, policy, now)) {
        await alerts.publish(alert).then(
          () => report.alertsSent++,
          (err: unknown) =>
            report.errors.push({ region: '-', operation: 'sns:Publish', message: describeError(err) }),
        );
      }
    }
  }
  if (usage && !report.dryRun && !extraRun) {
    try {
      const recorded = await recordUsage({
        policy,
        now,
        usage: merged.usage,
        stops: merged.stops,
        store: usage.usage,
        ...(input.budget ? { estimateBeforeUsd: input.budget.estimateUsd } : {}),
      });
      if (recorded.alert && alerts) {
        await alerts.publish(recorded.alert);
        report.alertsSent++;
      }
    } catch (err) {
      report.errors.push({ region: '-', operation: 'ssm:PutParameter (usage)', message: describeError(err) });
    }
  }

  // The summary is out: the results it used go, and the run is marked summarized (its late results are then taken).
  for (const [queue, receipts] of collected.toDelete) {
    await fan.queues.delete(queue, receipts).catch((err: unknown) => {
      report.errors.push({ region: '-', operation: 'sqs:DeleteMessageBatch', message: describeError(err) });
    });
  }
  const f = report.fanOut as FanOutSummary;
  await fan.claims
    .finish(runId, {
      at,
      targets: f.targets,
      results: f.results,
      deadLettered: f.deadLettered.length,
      missing: f.missing.length,
    })
    .catch((err: unknown) => {
      report.errors.push({
        region: '-',
        operation: 'ssm:PutParameter (run claim)',
        message: describeError(err),
      });
    });
  await cleanUp;
  return report;
}

/** What collecting a run's answers gave. */
interface Collected {
  results: Map<number, TargetResult>;
  deadLettered: Set<number>;
  late: TargetResult[];
  lateDeadLettered: TargetMessage[];
  /** Receipts to delete once the summary is out. */
  toDelete: Map<ReadQueue, string[]>;
  errors: RunError[];
}

/**
 * Reads the results queue (RESULT_READERS long polls at once) and the dead-letter queue until every pending target
 * has answered or the deadline passes. Messages of earlier runs that were summarized (or ended without a summary) are
 * taken as late; those of runs still waiting for them are left, hidden for a moment.
 */
async function collect(
  fan: FanOutDeps,
  run: { runId: string; runAt: Date; pending: Set<number>; deadline: number; log: Logger },
): Promise<Collected> {
  const { pending, runId } = run;
  const out: Collected = {
    results: new Map(),
    deadLettered: new Set(),
    late: [],
    lateDeadLettered: [],
    toDelete: new Map([
      ['results', []],
      ['deadLetter', []],
    ]),
    errors: [],
  };
  if (pending.size === 0) return out;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), Math.max(0, run.deadline - fan.clock().getTime()));
  const states = new Map<string, Promise<'late' | 'leave'>>();
  const otherRun = (id: string): Promise<'late' | 'leave'> => {
    let known = states.get(id);
    if (!known) {
      known = judgeOtherRun(fan, id, run.runAt);
      states.set(id, known);
    }
    return known;
  };
  const failures = new Set<string>();
  const finishIfDone = () => {
    if (pending.size === 0) stop.abort();
  };

  const handle = async (queue: ReadQueue, m: ReceivedMessage): Promise<void> => {
    const keep = () => out.toDelete.get(queue)?.push(m.receipt);
    let parsed: TargetResult | TargetMessage;
    try {
      parsed = queue === 'results' ? parseTargetResult(m.body) : parseTargetMessage(m.body);
    } catch (err) {
      // Not a message of this stack's fan-out (or of another version): logged and dropped.
      run.log({
        level: 'warn',
        message: `sweep: dropped a message of the ${queue} queue: ${describeError(err)}`,
      });
      keep();
      return;
    }
    if (parsed.runId === runId) {
      keep();
      if (!pending.delete(parsed.index)) return;
      if (parsed.kind === 'result') out.results.set(parsed.index, parsed);
      else out.deadLettered.add(parsed.index);
      finishIfDone();
      return;
    }
    if ((await otherRun(parsed.runId)) === 'leave') {
      await fan.queues.release(queue, [m.receipt], LEAVE_SECONDS).catch(() => undefined);
      return;
    }
    keep();
    if (parsed.kind === 'result') out.late.push(parsed);
    else out.lateDeadLettered.push(parsed);
  };

  const reader = async (queue: ReadQueue): Promise<void> => {
    while (!stop.signal.aborted) {
      const left = (run.deadline - fan.clock().getTime()) / 1000;
      if (left <= 0) break;
      let messages: ReceivedMessage[];
      try {
        messages = await fan.queues.receive(queue, Math.min(fan.pollSeconds ?? 20, left), stop.signal);
      } catch (err) {
        if (stop.signal.aborted) break;
        const why = describeError(err);
        if (!failures.has(why)) {
          failures.add(why);
          out.errors.push({ region: '-', operation: 'sqs:ReceiveMessage', message: why });
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      await Promise.all(messages.map((m) => handle(queue, m)));
    }
  };
  try {
    await Promise.all([
      ...Array.from({ length: Math.min(RESULT_READERS, pending.size) }, () => reader('results')),
      reader('deadLetter'),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/**
 * Whether another run's message is late (its run was summarized, or ended without a summary, before this one) or is
 * still awaited by that run (a newer run, or one running now next to this one: a quiet-hours run at the same time).
 */
async function judgeOtherRun(fan: FanOutDeps, runId: string, runAt: Date): Promise<'late' | 'leave'> {
  const at = runTimeOf(runId);
  if (!at || at.getTime() >= runAt.getTime()) return 'leave';
  const state = await fan.claims.state(runId).catch(() => 'running' as const);
  if (state === 'summarized') return 'late';
  return runAt.getTime() - at.getTime() >= RUN_MAX_MS ? 'late' : 'leave';
}

function unavailableResult(
  runId: string,
  at: string,
  index: number,
  target: TargetRef,
  unavailable: { operation: string; message: string },
  dryRun: boolean,
): TargetResult {
  return {
    v: FAN_OUT_VERSION,
    kind: 'result',
    runId,
    at,
    index,
    target,
    attempt: 0,
    dryRun,
    scope: { ...target, instances: 0, ok: false, error: `${unavailable.operation}: ${unavailable.message}` },
    decisions: [],
    warned: [],
    stopped: [],
    cleared: [],
    postponed: [],
    errors: [{ ...target, ...unavailable }],
  };
}

function emptySummary(runId: string, targets: number): FanOutSummary {
  return { runId, targets, results: 0, deadLettered: [], missing: [], late: [], omitted: 0 };
}
