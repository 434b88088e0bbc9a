/**
 * The fan-out's messages and bookkeeping (docs/scale.md, "Fan-out"): the scheduled sweep sends one message per
 * account x region to the targets queue, the sweep-worker function sweeps each one and sends back a compact result,
 * and the scheduled sweep merges the results into one report (one admin summary, one alert per owner, one usage
 * record). Pure: what the messages hold, when to fan out, how a result is cut to fit one message, how results,
 * dead-lettered and missing targets become one report.
 */
import type { Decision, EvaluateContext } from './evaluate.js';
import { InputError } from './errors.js';
import type { MorningStartReport } from './morning-start.js';
import type { Policy } from './policy.js';
import {
  appendResult,
  emptySweepReport,
  type ResultLists,
  type ScopeSummary,
  type SweepReport,
} from './report.js';
import type { SweepUsage } from './usage.js';

/** Version of the message format: a worker or summary that meets another version ignores the message. */
export const FAN_OUT_VERSION = 1;

/** SQS takes messages of up to 256 KiB; a result is cut to fit in this many bytes (its JSON). */
export const RESULT_MAX_BYTES = 240_000;

/** Receives of a target message (SQS maxReceiveCount) before it goes to the dead-letter queue. */
export const TARGET_ATTEMPTS = 3;

/** Seconds a target whose whole sweep failed for a passing reason (throttling, 5xx) waits per attempt. */
export const RETRY_BACKOFF_SECONDS = 15;

/** Member accounts the scheduled sweep resolves at once when it may fan out (AssumeRole, DescribeRegions). */
export const FAN_OUT_RESOLVE_CONCURRENCY = 32;

/** An account x region as the messages name it: never credentials, only where. No account = the home account. */
export interface TargetRef {
  region: string;
  account?: string;
}

/** One unit of work on the targets queue. */
export interface TargetMessage {
  v: typeof FAN_OUT_VERSION;
  kind: 'target';
  runId: string;
  /** The run's time (ISO): the usage of the run is recorded for it. */
  at: string;
  /** The target's place in the run (0-based) and the run's size. */
  index: number;
  total: number;
  target: TargetRef;
  /** A quiet-hours run: records no usage. */
  extraRun?: true;
  /** The budget rule's facts, read once by the scheduled sweep. */
  context?: EvaluateContext;
}

/** What one target's sweep sends back on the results queue: its result lists (decisions first) and more. */
export interface TargetResult extends ResultLists {
  v: typeof FAN_OUT_VERSION;
  kind: 'result';
  runId: string;
  at: string;
  index: number;
  target: TargetRef;
  /** The attempt (SQS receive count) that produced it. */
  attempt: number;
  dryRun: boolean;
  scope: ScopeSummary;
  /** The decisions that are not "none", in DescribeInstances order (fewer when `omitted`). */
  decisions: Decision[];
  /** Hours, free-tier hours and dollars of the instances seen; absent in a quiet-hours run or a dry run. */
  usage?: SweepUsage;
  morningStart?: MorningStartReport;
  /** Decisions (and ids) left out so that the result fits in one message; the worker's log has them all. */
  omitted?: number;
}

/** Where a run of the fan-out stands, for the report and the admin's summary. */
export interface FanOutSummary {
  runId: string;
  targets: number;
  results: number;
  /** Targets whose message went to the dead-letter queue after TARGET_ATTEMPTS failed attempts. */
  deadLettered: TargetRef[];
  /** Targets without a result by the deadline: they are reported as late by a later run. */
  missing: TargetRef[];
  /** Results of earlier runs that came after their summary, merged into this one. */
  late: (TargetRef & { runId: string })[];
  /** Decisions left out of results to fit a message. */
  omitted: number;
  /** A second invocation for the same run found it claimed and did nothing. */
  duplicate?: true;
}

/**
 * Whether a run with `targets` targets fans out: never when the stack has no fan-out (`deployed` false, see
 * fanOutDeployed), always with `mode: on`, above `threshold` targets with `auto`.
 */
export function fanOutWanted(policy: Policy, targets: number, deployed: boolean): boolean {
  if (!deployed) return false;
  const { mode, threshold } = policy.fanOut;
  return mode === 'on' || (mode === 'auto' && targets > threshold);
}

/**
 * Whether the stack gets the fan-out's SQS trigger (and the sweep its 15-minute timeout): with `mode: on`, or `auto`
 * when the policy names member accounts (one account never has more than `threshold` targets). Without it no queue is
 * polled and nothing is sent: a class in one account has no new moving parts.
 */
export function fanOutDeployed(policy: Policy): boolean {
  const { mode } = policy.fanOut;
  return mode === 'on' || (mode === 'auto' && (policy.accounts.length > 0 || policy.organization));
}

/**
 * The id of a run: its minute (UTC) and whether it is a quiet-hours run. Two invocations for the same schedule
 * event (EventBridge and Lambda deliver at least once) get the same id, and only the first one claims it.
 */
export function runIdFor(at: Date, extraRun: boolean): string {
  const minute = at.toISOString().slice(0, 16).replace(/[-:]/g, '');
  return `${minute}Z-${extraRun ? 'quiet-hours' : 'schedule'}`;
}

/** The time of a run id (its minute), or null for a name that is not one. */
export function runTimeOf(runId: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z-[a-z-]+$/.exec(runId);
  if (!m) return null;
  const [, y, mo, d, h, mi] = m;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi));
  return Number.isFinite(t) ? new Date(t) : null;
}

/** "account 222233334444 eu-west-1", or the region alone for the home account. */
export function targetLabel(t: TargetRef): string {
  return t.account ? `account ${t.account} ${t.region}` : t.region;
}

const RUN_ID = /^\d{8}T\d{4}Z-[a-z-]{1,20}$/;
const REGION = /^([a-z]{2}(-[a-z]+)+-\d|-)$/;
const ACCOUNT = /^\d{12}$/;

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InputError(field, 'is not a JSON object');
  return value as Record<string, unknown>;
}

function parseJson(body: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new InputError(field, 'is not JSON; the message was not sent by cost-watchdog', { cause: err });
  }
  return object(value, field);
}

function targetRef(value: unknown, field: string): TargetRef {
  const t = object(value, field);
  if (typeof t.region !== 'string' || !REGION.test(t.region))
    throw new InputError(`${field}.region`, 'is not an AWS region name such as us-east-1');
  if (t.account !== undefined && (typeof t.account !== 'string' || !ACCOUNT.test(t.account)))
    throw new InputError(`${field}.account`, 'is not a 12-digit AWS account id');
  return { region: t.region, ...(typeof t.account === 'string' ? { account: t.account } : {}) };
}

function common(m: Record<string, unknown>, kind: 'target' | 'result', field: string): void {
  if (m.v !== FAN_OUT_VERSION)
    throw new InputError(
      `${field}.v`,
      `is not ${FAN_OUT_VERSION}: a message of another cost-watchdog version`,
    );
  if (m.kind !== kind) throw new InputError(`${field}.kind`, `is not "${kind}"`);
  if (typeof m.runId !== 'string' || !RUN_ID.test(m.runId))
    throw new InputError(`${field}.runId`, 'is not a run id such as 20260115T1000Z-schedule');
  if (typeof m.at !== 'string' || !Number.isFinite(Date.parse(m.at)))
    throw new InputError(`${field}.at`, 'is not an ISO time');
  if (!Number.isInteger(m.index) || (m.index as number) < 0)
    throw new InputError(`${field}.index`, 'is not a whole number from 0');
}

/** Reads a message of the targets queue; throws InputError naming the field when it is not one. */
export function parseTargetMessage(body: string): TargetMessage {
  const m = parseJson(body, 'message');
  common(m, 'target', 'message');
  if (!Number.isInteger(m.total) || (m.total as number) <= (m.index as number))
    throw new InputError('message.total', 'is not a whole number above index');
  const context = m.context === undefined ? undefined : object(m.context, 'message.context');
  const budget = context?.budget === undefined ? undefined : object(context.budget, 'message.context.budget');
  if (budget && (typeof budget.estimateUsd !== 'number' || typeof budget.limitUsd !== 'number'))
    throw new InputError('message.context.budget', 'needs estimateUsd and limitUsd numbers');
  return {
    v: FAN_OUT_VERSION,
    kind: 'target',
    runId: m.runId as string,
    at: m.at as string,
    index: m.index as number,
    total: m.total as number,
    target: targetRef(m.target, 'message.target'),
    ...(m.extraRun === true ? { extraRun: true as const } : {}),
    ...(budget
      ? {
          context: {
            budget: { estimateUsd: budget.estimateUsd as number, limitUsd: budget.limitUsd as number },
          },
        }
      : {}),
  };
}

/**
 * Reads a message of the results queue (written by the worker of this stack); throws InputError when it is not one.
 * The decisions' text was cleaned where it entered (the EC2 adapter), before the worker sent it.
 */
export function parseTargetResult(body: string): TargetResult {
  const m = parseJson(body, 'result');
  common(m, 'result', 'result');
  const lists = ['decisions', 'warned', 'stopped', 'cleared', 'postponed', 'errors'] as const;
  for (const k of lists) if (!Array.isArray(m[k])) throw new InputError(`result.${k}`, 'is not a list');
  object(m.scope, 'result.scope');
  const usage = m.usage === undefined ? undefined : reviveUsage(object(m.usage, 'result.usage'));
  return {
    ...(m as unknown as TargetResult),
    target: targetRef(m.target, 'result.target'),
    ...(usage ? { usage } : {}),
  };
}

/** A SweepUsage read back from JSON: the months' `at` times are Dates again. */
function reviveUsage(u: Record<string, unknown>): SweepUsage {
  const months = Array.isArray(u.months) ? (u.months as Record<string, unknown>[]) : [];
  return {
    months: months.map((m) => ({
      ...(m as unknown as SweepUsage['months'][number]),
      at: new Date(String(m.at)),
    })),
    instancesRunning: typeof u.instancesRunning === 'number' ? u.instancesRunning : 0,
    unpriced: Array.isArray(u.unpriced) ? (u.unpriced as string[]) : [],
  };
}

/** Bytes of a message body. */
export function messageBytes(body: string): number {
  return new TextEncoder().encode(body).length;
}

/** The order in which decisions are kept when a result must be cut: stops, new warnings, other warnings, reports. */
function keepFirst(result: TargetResult): Decision[] {
  const stopped = new Set(result.stopped);
  const warned = new Set(result.warned);
  const rank = (d: Decision) =>
    stopped.has(d.instanceId) ? 0 : warned.has(d.instanceId) ? 1 : d.action === 'warn' ? 2 : 3;
  return [...result.decisions].sort((a, b) => rank(a) - rank(b));
}

/**
 * The result as one message body of at most `maxBytes`: whole when it fits, else with the fewest decisions left out
 * (reports first, stops last) and, if even that is too big, the id lists cut too. `omitted` counts what was left out.
 * `whole` is the result's JSON, for a caller that has it already (the same string is returned when it fits).
 */
export function resultBody(
  result: TargetResult,
  maxBytes = RESULT_MAX_BYTES,
  whole = JSON.stringify(result),
): string {
  if (messageBytes(whole) <= maxBytes) return whole;
  const ordered = keepFirst(result);
  const order = new Map(result.decisions.map((d, k) => [d.instanceId, k]));
  const withDecisions = (n: number, cut?: number): TargetResult => {
    const kept = ordered
      .slice(0, n)
      .sort((a, b) => (order.get(a.instanceId) ?? 0) - (order.get(b.instanceId) ?? 0));
    const lists = cut === undefined ? {} : cutLists(result, cut);
    const left =
      result.decisions.length -
      n +
      (cut === undefined ? 0 : listSize(result) - listSize({ ...result, ...lists }));
    return { ...result, ...lists, decisions: kept, omitted: (result.omitted ?? 0) + left };
  };
  const fits = (r: TargetResult) => messageBytes(JSON.stringify(r)) <= maxBytes;
  if (fits(withDecisions(0))) {
    let lo = 0;
    let hi = ordered.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(withDecisions(mid))) lo = mid;
      else hi = mid - 1;
    }
    return JSON.stringify(withDecisions(lo));
  }
  // Tens of thousands of ids: keep as many of each list as fit, and the errors' first ones.
  for (let cut = 1_000; cut >= 0; cut = cut === 0 ? -1 : Math.floor(cut / 2)) {
    const r = withDecisions(0, cut);
    if (fits(r) || cut === 0) return JSON.stringify(fits(r) ? r : { ...r, usage: undefined });
  }
  return JSON.stringify(withDecisions(0, 0));
}

function cutLists(r: TargetResult, n: number) {
  return {
    warned: r.warned.slice(0, n),
    stopped: r.stopped.slice(0, n),
    cleared: r.cleared.slice(0, n),
    postponed: r.postponed.slice(0, n),
    errors: r.errors.slice(0, n),
  };
}

function listSize(r: Pick<TargetResult, 'warned' | 'stopped' | 'cleared' | 'postponed'>): number {
  return r.warned.length + r.stopped.length + r.cleared.length + r.postponed.length;
}

/**
 * Whether a target's failed sweep is worth another attempt: throttling, a 5xx, a timeout or a dropped connection.
 * Access denied, an unknown region or a missing role fail the same way every time: their result goes out at once.
 */
export function isPassingFailure(message: string): boolean {
  return /Throttl|RequestLimitExceeded|TooManyRequests|SlowDown|ServiceUnavailable|InternalError|InternalFailure|InternalServerError|RequestTimeout|TimeoutError|ECONNRESET|ETIMEDOUT|ECONNREFUSED|EPIPE|socket hang up|Unavailable/i.test(
    message,
  );
}

/** What merging a run's results gives: the report, and the usage and stops to record once. */
export interface MergedRun {
  report: SweepReport;
  usage: SweepUsage;
  stops: number;
}

/** Inputs of mergeRun. */
export interface RunOutcome {
  at: string;
  dryRun: boolean;
  runId: string;
  targets: TargetRef[];
  /** Results of this run by target index. */
  results: ReadonlyMap<number, TargetResult>;
  /** Indexes whose message went to the dead-letter queue (and that have no result). */
  deadLettered: ReadonlySet<number>;
  /** Indexes that were never sent (SendMessageBatch failed), with the error. */
  unsent: ReadonlyMap<number, string>;
  /** Results and dead-lettered targets of earlier runs, merged as late. */
  late: TargetResult[];
  lateDeadLettered: TargetMessage[];
  settleMinutes: number;
}

/**
 * One report for a fanned-out run, in target order, as if one invocation had swept every target: each result's
 * scope, decisions, warnings, stops and errors; a failed scope and an error naming each target that went to the
 * dead-letter queue, was never sent or had no result by the deadline; late results of earlier runs added (their
 * warnings and stops are alerted now). Usage and stops are summed for one record.
 */
export function mergeRun(o: RunOutcome): MergedRun {
  const report = emptySweepReport(o.at, o.dryRun);
  const usageParts: SweepUsage[] = [];
  const morning: MorningStartReport = { decisions: [], started: [] };
  let omitted = 0;
  const add = (r: TargetResult, withScope: boolean) => {
    if (withScope) {
      report.scopes.push(r.scope);
      report.instancesSeen += r.scope.instances;
    }
    appendResult(report, r);
    if (r.usage) usageParts.push(r.usage);
    if (r.morningStart) {
      morning.decisions.push(...r.morningStart.decisions);
      morning.started.push(...r.morningStart.started);
    }
    if (r.omitted) {
      omitted += r.omitted;
      report.errors.push({
        ...where(r.target),
        operation: 'fan-out (result cut to fit one message)',
        message: `${r.omitted} decisions and ids of this region are not in the summary; the sweep-worker log has them`,
      });
    }
  };
  const failed = (t: TargetRef, operation: string, message: string) => {
    report.scopes.push({ ...where(t), instances: 0, ok: false, error: `${operation}: ${message}` });
    report.errors.push({ ...where(t), operation, message });
  };
  const deadLettered: TargetRef[] = [];
  const missing: TargetRef[] = [];
  o.targets.forEach((t, k) => {
    const r = o.results.get(k);
    if (r) add(r, true);
    else if (o.unsent.has(k)) failed(t, 'sqs:SendMessageBatch', o.unsent.get(k) ?? 'not sent');
    else if (o.deadLettered.has(k)) {
      deadLettered.push(t);
      failed(
        t,
        'fan-out (dead-letter queue)',
        `the worker failed ${TARGET_ATTEMPTS} times on this target; its log says why. Nothing after the failure was done`,
      );
    } else {
      missing.push(t);
      failed(
        t,
        'fan-out (no result yet)',
        `none after ${o.settleMinutes} min (still queued or running); the next summary lists it as late`,
      );
    }
  });
  const late: FanOutSummary['late'] = [];
  for (const r of o.late) {
    add(r, false);
    late.push({ ...r.target, runId: r.runId });
  }
  for (const m of o.lateDeadLettered) {
    report.errors.push({
      ...where(m.target),
      operation: 'fan-out (dead-letter queue, late)',
      message: `run ${m.runId}: the worker failed ${TARGET_ATTEMPTS} times on this target`,
    });
    late.push({ ...m.target, runId: m.runId });
  }
  if (morning.decisions.length > 0 || morning.started.length > 0) report.morningStart = morning;
  report.fanOut = {
    runId: o.runId,
    targets: o.targets.length,
    results: o.results.size,
    deadLettered,
    missing,
    late,
    omitted,
  };
  return { report, usage: sumUsage(usageParts), stops: report.stopped.length };
}

function where(t: TargetRef): { region: string; account?: string } {
  return { region: t.region, ...(t.account ? { account: t.account } : {}) };
}

/** The usage of several targets as one: months and owners added up. */
export function sumUsage(parts: readonly SweepUsage[]): SweepUsage {
  const months = new Map<string, SweepUsage['months'][number]>();
  const unpriced: string[] = [];
  let instancesRunning = 0;
  for (const p of parts) {
    instancesRunning += p.instancesRunning;
    unpriced.push(...p.unpriced);
    for (const m of p.months) {
      const sum = months.get(m.month) ?? {
        month: m.month,
        at: m.at,
        instanceHours: 0,
        freeTierHours: 0,
        estimatedUsd: 0,
        unpricedHours: 0,
        byOwner: {},
      };
      sum.instanceHours += m.instanceHours;
      sum.freeTierHours += m.freeTierHours;
      sum.estimatedUsd += m.estimatedUsd;
      sum.unpricedHours = (sum.unpricedHours ?? 0) + (m.unpricedHours ?? 0);
      if (m.at.getTime() > sum.at.getTime()) sum.at = m.at;
      for (const [owner, o] of Object.entries(m.byOwner)) {
        const s = sum.byOwner[owner] ?? { hours: 0, usd: 0 };
        s.hours += o.hours;
        s.usd += o.usd;
        sum.byOwner[owner] = s;
      }
      months.set(m.month, sum);
    }
  }
  return {
    months: [...months.values()].sort((a, b) => a.month.localeCompare(b.month)),
    instancesRunning,
    unpriced,
  };
}

/** The admin summary's line about the fan-out: targets, results, failed, missing, late. */
export function fanOutLine(f: FanOutSummary): string {
  const parts = [`${f.results} of ${f.targets} targets answered`];
  if (f.deadLettered.length > 0) parts.push(`${f.deadLettered.length} failed (dead-letter queue)`);
  if (f.missing.length > 0) parts.push(`${f.missing.length} without a result yet (named under Errors)`);
  if (f.late.length > 0) parts.push(`${f.late.length} late result(s) of earlier runs included`);
  return `Fan-out run ${f.runId}: ${parts.join(', ')}.`;
}
