/**
 * The fan-out's scale model (docs/scale.md, "Fan-out figures"): from what `npm run bench` measured (the planner over
 * every target, a sample of real sweep-worker invocations) and what the stack deploys (worker concurrency, batch size,
 * memory), the wall time of a whole run and the fan-out's own monthly AWS bill at the schedule. Pure arithmetic; the
 * Lambda and CloudWatch Logs prices are those of the stack's self-cost (src/core/self-cost.ts).
 */
import { HOURS_PER_MONTH } from '../src/core/prices.js';
import { AWS_PRICES } from '../src/core/self-cost.js';

/** SQS standard queues (us-east-1 list price): per million requests after the first million a month, free. */
export const SQS_PRICES = { perMillionRequests: 0.4, freeRequests: 1_000_000 } as const;

/**
 * Lambda's SQS event source mapping polls the queue all the time, with long polls (ReceiveMessage waiting up to 20 s)
 * from at least five pollers: an idle queue costs 5 x 3 requests a minute. An assumption from AWS's description of the
 * poller (AWS does not publish the exact count), counted as well while messages flow (an upper bound).
 */
export const LAMBDA_SQS_POLLERS = 5;
export const SQS_LONG_POLL_SECONDS = 20;

/** Bytes Lambda itself logs per invocation (START, END and REPORT lines); an assumption. */
export const LAMBDA_PLATFORM_LOG_BYTES = 350;

/** The goal of the fan-out: every target swept within 15 minutes of the schedule, for less than $20 a month. */
export const GOAL = { wallMs: 15 * 60_000, monthlyUsd: 20 } as const;

/** What the stack deploys (src/core/fan-out-deployment.ts, read as serverless.yml reads it, and the policy). */
export interface FanOutDeploymentFigures {
  /** Worker invocations at once (the SQS trigger's maximumConcurrency). */
  concurrency: number;
  /** Targets an invocation sweeps at once (the trigger's batchSize). */
  batchSize: number;
  workerMemoryMB: number;
  sweepMemoryMB: number;
  /** Targets one invocation sweeps at once without the fan-out (the policy's `concurrency`). */
  sweepConcurrency: number;
  /** Minutes the summary waits for results (fanOut.settleMinutes). */
  settleMinutes: number;
  /** ReceiveMessage long polls the summary keeps waiting on the results and dead-letter queues at once. */
  summaryReaders: number;
  schedule: string;
  runsPerMonth: number;
}

/** The measured figures the model scales, per target where they grow with the targets. */
export interface FanOutMeasured {
  /** Targets the planner run had. */
  plannerTargets: number;
  /** From the planner's first call to its last target sent (ms). */
  plannerMs: number;
  /** From the last target sent to the last result read, every result already waiting (wall ms). */
  readMs: number;
  /**
   * The rest of the planner's invocation after the last result read, Lambda estimate (merging, the summary, deleting
   * the results): all the invocation's CPU is counted here, at the sweep's memory.
   */
  summaryMs: number;
  /** SQS requests of the planner and summary as SQS bills them (64 KiB chunks), all its targets. */
  plannerSqsBilled: number;
  /** Bytes the scheduled sweep logged in that run. */
  plannerLogBytes: number;
  /** Lambda estimate (ms) of one warm worker invocation with a full batch. */
  workerBatchMs: number;
  /** What a container's first invocation takes more than a warm one (ms). */
  workerColdExtraMs: number;
  /** Lambda estimate (ms) of a warm worker invocation with one target: a target swept alone. */
  targetAloneMs: number;
  /** SQS requests the worker made per target (its results, as billed). */
  workerSqsBilledPerTarget: number;
  /** Bytes the worker logged per target. */
  workerLogBytesPerTarget: number;
}

/** One line of the fan-out's monthly bill. */
export interface FanOutCostItem {
  item: string;
  quantity: string;
  listUsd: number;
  /** After the monthly free tier, if the fan-out had it to itself. */
  billedUsd: number;
}

/** The model for one number of targets. */
export interface FanOutModel {
  name: string;
  accounts: number;
  regions: number;
  targets: number;
  /** Rounds of `concurrency` invocations of `batchSize` targets each. */
  waves: number;
  workerInvocationsPerRun: number;
  plannerMs: number;
  workersMs: number;
  /** Reading every result; it goes on while the workers run, so only what outlasts them adds to the wall time. */
  readMs: number;
  summaryMs: number;
  /** Planner + the longer of workers and reading + summary: the time from the schedule to the summary. */
  wallMs: number;
  /** The same targets in one invocation of the sweep at its own concurrency (Lambda stops it at 15 minutes). */
  singleInvocationMs: number;
  /** Whether every result reaches the summary within fanOut.settleMinutes (else they follow as late). */
  withinSettle: boolean;
  sqsRequestsPerMonth: {
    plannerAndSummary: number;
    workerResults: number;
    pollerWithMessages: number;
    pollerIdle: number;
    summaryWaiting: number;
    total: number;
  };
  lambdaInvocationsPerMonth: number;
  gbSecondsPerMonth: { workers: number; sweep: number };
  logGbPerMonth: number;
  items: FanOutCostItem[];
  listUsd: number;
  billedUsd: number;
  meetsTime: boolean;
  meetsCost: boolean;
}

/** Rounds of worker invocations for `targets`: `concurrency` invocations of `batchSize` targets at once. */
export function waves(targets: number, concurrency: number, batchSize: number): number {
  return Math.ceil(targets / (concurrency * batchSize));
}

/** ReceiveMessage calls Lambda's pollers make a month on an idle queue. */
export function idlePollsPerMonth(pollers = LAMBDA_SQS_POLLERS, waitSeconds = SQS_LONG_POLL_SECONDS): number {
  return pollers * (3_600 / waitSeconds) * HOURS_PER_MONTH;
}

/**
 * The wall time and monthly bill of a fanned-out run over the `regions` of `accounts` member accounts and of the home
 * account (swept by the same fan-out, so (accounts + 1) x regions targets): planner, reading and summary scaled
 * from the measured run by the number of targets, the workers in waves of concurrency x batchSize targets at the
 * measured time of a full batch (plus one cold start), and SQS requests, Lambda invocations and GB-s, and log bytes at
 * the schedule's runs a month.
 */
export function fanOutModel(
  name: string,
  accounts: number,
  regions: number,
  d: FanOutDeploymentFigures,
  m: FanOutMeasured,
): FanOutModel {
  const targets = (accounts + 1) * regions;
  const scale = targets / m.plannerTargets;
  const w = waves(targets, d.concurrency, d.batchSize);
  const invocations = Math.ceil(targets / d.batchSize);
  const plannerMs = Math.round(m.plannerMs * scale);
  const readMs = Math.round(m.readMs * scale);
  const summaryMs = Math.round(m.summaryMs * scale);
  const workersMs = Math.round(w * m.workerBatchMs + m.workerColdExtraMs);
  const wallMs = plannerMs + Math.max(workersMs, readMs) + summaryMs;
  const singleInvocationMs = Math.round(Math.ceil(targets / d.sweepConcurrency) * m.targetAloneMs);
  const runs = d.runsPerMonth;

  const sqs = {
    plannerAndSummary: m.plannerSqsBilled * scale * runs,
    workerResults: m.workerSqsBilledPerTarget * targets * runs,
    // The trigger receives a batch and deletes it when the invocation succeeds: two requests per invocation.
    pollerWithMessages: 2 * invocations * runs,
    pollerIdle: idlePollsPerMonth(),
    // While the workers run, the summary's readers wait on the queues in long polls (the measured run had every
    // result waiting at once).
    summaryWaiting: ((d.summaryReaders * workersMs) / 1000 / SQS_LONG_POLL_SECONDS) * runs,
    total: 0,
  };
  sqs.total =
    sqs.plannerAndSummary + sqs.workerResults + sqs.pollerWithMessages + sqs.pollerIdle + sqs.summaryWaiting;
  const lambdaInvocations = (invocations + 1) * runs;
  const gbSeconds = {
    workers: ((invocations * m.workerBatchMs) / 1000) * (d.workerMemoryMB / 1024) * runs,
    // The scheduled sweep waits for the whole run (it would run anyway; its waiting is the fan-out's).
    sweep: (wallMs / 1000) * (d.sweepMemoryMB / 1024) * runs,
  };
  const logGb =
    ((m.workerLogBytesPerTarget * targets +
      m.plannerLogBytes * scale +
      (invocations + 1) * LAMBDA_PLATFORM_LOG_BYTES) *
      runs) /
    1e9;

  const p = AWS_PRICES;
  const gbs = gbSeconds.workers + gbSeconds.sweep;
  const items: FanOutCostItem[] = [
    {
      item: 'SQS requests',
      quantity: `${Math.round(sqs.total).toLocaleString('en-US')}`,
      listUsd: (sqs.total / 1e6) * SQS_PRICES.perMillionRequests,
      billedUsd: (Math.max(0, sqs.total - SQS_PRICES.freeRequests) / 1e6) * SQS_PRICES.perMillionRequests,
    },
    {
      item: 'Lambda requests',
      quantity: `${Math.round(lambdaInvocations).toLocaleString('en-US')}`,
      listUsd: (lambdaInvocations / 1e6) * p.lambdaPerMillionRequests,
      billedUsd: (Math.max(0, lambdaInvocations - p.lambdaFreeRequests) / 1e6) * p.lambdaPerMillionRequests,
    },
    {
      item: 'Lambda GB-s',
      quantity: `${Math.round(gbs).toLocaleString('en-US')}`,
      listUsd: gbs * p.lambdaPerGbSecond,
      billedUsd: Math.max(0, gbs - p.lambdaFreeGbSeconds) * p.lambdaPerGbSecond,
    },
    {
      item: 'CloudWatch Logs ingestion',
      quantity: `${logGb.toFixed(2)} GB`,
      listUsd: logGb * p.logsIngestPerGb,
      billedUsd: Math.max(0, logGb - p.logsFreeGb) * p.logsIngestPerGb,
    },
  ].map((i) => ({ ...i, listUsd: round2(i.listUsd), billedUsd: round2(i.billedUsd) }));
  const listUsd = round2(items.reduce((s, i) => s + i.listUsd, 0));
  const billedUsd = round2(items.reduce((s, i) => s + i.billedUsd, 0));
  return {
    name,
    accounts,
    regions,
    targets,
    waves: w,
    workerInvocationsPerRun: invocations,
    plannerMs,
    workersMs,
    readMs,
    summaryMs,
    wallMs,
    singleInvocationMs,
    withinSettle: plannerMs + Math.max(workersMs, readMs) <= d.settleMinutes * 60_000,
    sqsRequestsPerMonth: {
      plannerAndSummary: Math.round(sqs.plannerAndSummary),
      workerResults: Math.round(sqs.workerResults),
      pollerWithMessages: Math.round(sqs.pollerWithMessages),
      pollerIdle: Math.round(sqs.pollerIdle),
      summaryWaiting: Math.round(sqs.summaryWaiting),
      total: Math.round(sqs.total),
    },
    lambdaInvocationsPerMonth: Math.round(lambdaInvocations),
    gbSecondsPerMonth: { workers: Math.round(gbSeconds.workers), sweep: Math.round(gbSeconds.sweep) },
    logGbPerMonth: Math.round(logGb * 100) / 100,
    items,
    listUsd,
    billedUsd,
    meetsTime: wallMs <= GOAL.wallMs,
    meetsCost: listUsd < GOAL.monthlyUsd,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
