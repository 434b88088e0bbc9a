/**
 * The rules table: every reason the watchdog may warn about and stop an instance, in evaluation order. Each entry
 * has its judge (pure: instance, metrics, policy and clock in; holds / not / unknown and a measured reason out),
 * whether it may lead to a stop under a policy, and its wording for people. The Rule type, the order and the
 * warning-tag parser all derive from RULE_IDS, so a new rule is one id, one entry here and its policy key.
 */
import { type Instance, type InstanceMetrics, METRIC_PERIOD_SECONDS, type Point } from './instance.js';
import { formatLocalTime } from './local-time.js';
import { type Policy, TAGS } from './policy.js';
import { judgeQuietHours } from './quiet-hours.js';

/**
 * Every rule, in the order they are judged and reported. When several may stop, the first is warned about: quiet
 * hours first, because its stop is due at a fixed time (the window's start) whatever the others do.
 */
export const RULE_IDS = ['quiet-hours', 'idle', 'over-uptime', 'non-free-tier', 'over-budget'] as const;

/** Why an instance costs money for nothing. */
export type Rule = (typeof RULE_IDS)[number];

/** Facts beyond one instance that rules may need: this month's estimated cost against the budget. */
export interface EvaluateContext {
  budget?: { estimateUsd: number; limitUsd: number };
}

/** The numbers a decision was based on (for alerts, plan and the JSON report). */
export interface Measured {
  runningHours: number;
  cpuAvgPercent?: number;
  networkMB?: number;
  gpuAvgPercent?: number;
  cpuDatapoints?: number;
  expectedDatapoints?: number;
  /** The uptime limit that applied (hours since the last start), when there is one. */
  uptimeLimitHours?: number;
  /** This month's estimated EC2 cost and the monthly budget, when a budget is set. */
  budgetEstimateUsd?: number;
  budgetLimitUsd?: number;
  /** The quiet period the quiet-hours rule holds for (ISO times) and the time zone its window is read in. */
  quietHours?: { start: string; end: string; timeZone: string };
  /** A database: the most connections at once over the idle window (DatabaseConnections Maximum). */
  connectionsMax?: number;
  /** A notebook: its last kernel / terminal activity (ISO), and hours since then. */
  lastActivityAt?: string;
  inactiveHours?: number;
}

/** What the plain-words reason of a rule is built from: the decision's instance type and measured numbers. */
export interface RuleFacts {
  instanceType: string;
  measured: Measured;
}

/** One rule's finding: it holds, it does not, or it cannot be judged this run (never treated as "holds"). */
export interface Verdict {
  holds: boolean | 'unknown';
  /** The measured reason, e.g. "idle: CPU avg 0.4% (limit 5%), ...". Empty when there is nothing to say. */
  reason: string;
  /** The earliest time (epoch ms) a stop for this rule may happen, however early its warning (quiet hours). */
  stopNotBefore?: number;
}

/** What a judge sees. `measured` collects the numbers for the report. */
export interface JudgeInput {
  instance: Instance;
  metrics: InstanceMetrics | undefined;
  policy: Policy;
  nowMs: number;
  /** Hours since the last start; null when the launch time is unknown. */
  runningHours: number | null;
  context: EvaluateContext;
  measured: Measured;
}

/** One rule: how it is judged, when it may stop, and how it is said to the people concerned. */
export interface RuleSpec {
  judge(input: JudgeInput): Verdict;
  /** Whether a warning for this rule may lead to a stop under `policy` (otherwise it is only reported). */
  mayStop(policy: Policy): boolean;
  /**
   * Plain words for owners (no policy keys): a short name, why the rule holds for this instance with the measured
   * numbers, and what changes the outcome (or that using it changes nothing).
   */
  wording: { name: string; why(facts: RuleFacts, policy: Policy): string; whatChangesIt: string };
}

/** The table. `Record<Rule, ...>` makes a rule without an entry a compile error. */
export const RULES: Record<Rule, RuleSpec> = {
  'quiet-hours': {
    judge: ({ instance, policy, nowMs, measured }) => judgeQuietHours(instance, policy, nowMs, measured),
    mayStop: (policy) => policy.quietHours.action === 'stop',
    wording: {
      name: 'quiet hours',
      why: ({ measured }) => {
        const q = measured.quietHours;
        if (!q) return "it would run during this account's quiet hours, when nothing is left running";
        const at = (t: string) => formatLocalTime(new Date(t), q.timeZone);
        return `this account's quiet hours run from ${at(q.start)} until ${at(q.end)}, and nothing is left running then unless it is kept`;
      },
      whatChangesIt:
        'using it does not change this: only a keep link (or the instructor or administrator) keeps it running through quiet hours',
    },
  },
  idle: {
    judge: judgeIdle,
    mayStop: () => true,
    wording: {
      name: 'idle',
      why: idleWhy,
      whatChangesIt: 'using it again (CPU or network above the limits) cancels the stop',
    },
  },
  'over-uptime': {
    judge: judgeUptime,
    mayStop: () => true,
    wording: {
      name: 'running too long',
      why: ({ measured }) =>
        `it has run ${fmt(measured.runningHours)} h since its last start${
          measured.uptimeLimitHours !== undefined ? `; the limit is ${measured.uptimeLimitHours} h` : ''
        }`,
      whatChangesIt: 'using it does not change this: it has run longer than allowed since its last start',
    },
  },
  'non-free-tier': {
    judge: ({ instance, policy }) => judgeFreeTier(instance, policy),
    mayStop: (policy) => policy.nonFreeTier.action === 'stop',
    wording: {
      name: 'not free tier',
      why: ({ instanceType }) =>
        `its type ${instanceType} is not free-tier eligible in this account and is not on the list of types allowed here`,
      whatChangesIt: 'using it does not change this: its instance type is not free-tier eligible',
    },
  },
  'over-budget': {
    judge: ({ context, measured }) => judgeBudget(context, measured),
    mayStop: (policy) => policy.budget.action === 'stop',
    wording: {
      name: 'over budget',
      why: ({ measured }) =>
        measured.budgetEstimateUsd !== undefined && measured.budgetLimitUsd !== undefined
          ? `the account's estimated EC2 cost this month ($${measured.budgetEstimateUsd.toFixed(2)}) has reached its monthly budget ($${measured.budgetLimitUsd.toFixed(2)})`
          : "the account's estimated EC2 cost this month has reached its monthly budget",
      whatChangesIt: "using it does not change this: the account's monthly budget is used up",
    },
  },
};

/** Why an instance is idle, in plain words with what was measured (when it was). */
function idleWhy({ measured }: RuleFacts, policy: Policy): string {
  const idle = policy.idle;
  const window = formatHours(idle.windowHours);
  if (measured.inactiveHours !== undefined) {
    return `nobody has used it: no notebook kernel or terminal activity for ${fmt(measured.inactiveHours)} h (limit ${window})`;
  }
  if (measured.connectionsMax !== undefined && measured.cpuAvgPercent !== undefined) {
    return `nobody has used it: no database connections and CPU averaged ${fmt(measured.cpuAvgPercent)}% (limit ${idle.cpuPercent}%) over the last ${window}`;
  }
  if (measured.cpuAvgPercent === undefined || measured.networkMB === undefined) {
    return `it has been idle: CPU under ${idle.cpuPercent}% and network under ${idle.networkMB} MB over the last ${window}`;
  }
  const gpu =
    measured.gpuAvgPercent !== undefined
      ? `, GPU ${fmt(measured.gpuAvgPercent)}% (limit ${idle.gpuPercent}%)`
      : '';
  return `it has been idle: CPU averaged ${fmt(measured.cpuAvgPercent)}% (limit ${idle.cpuPercent}%) and network ${fmt(measured.networkMB)} MB (limit ${idle.networkMB} MB)${gpu} over the last ${window}`;
}

/** The rule named by a tag value, or null when it names none (an old or foreign value). */
export function parseRule(value: string | undefined): Rule | null {
  return value !== undefined && (RULE_IDS as readonly string[]).includes(value) ? (value as Rule) : null;
}

const MB = 1_000_000;

/** Idle, judged from the evidence each kind of resource has (EC2 and RDS: metrics; notebooks: their activity). */
function judgeIdle(input: JudgeInput): Verdict {
  switch (input.instance.kind ?? 'ec2') {
    case 'ec2':
      return judgeEc2Idle(input);
    case 'sagemaker-notebook':
      return judgeNotebookIdle(input);
    case 'rds-instance':
    case 'rds-cluster':
      return judgeDatabaseIdle(input);
  }
}

/** Too recently started to be judged idle (idle.minRunningMinutes), or null. `note` follows the minutes. */
function tooYoung(runningHours: number | null, idle: Policy['idle'], note = ''): Verdict | null {
  const runningMinutes = (runningHours ?? 0) * 60;
  if (runningMinutes >= idle.minRunningMinutes) return null;
  return {
    holds: false,
    reason: `running ${Math.floor(runningMinutes)} min${note}, under idle.minRunningMinutes (${idle.minRunningMinutes})`,
  };
}

/** The idle window a metric judgement reads: its start, the datapoints it has and needs, and its words. */
function metricWindow(idle: Policy['idle'], nowMs: number) {
  const expected = Math.max(1, Math.round((idle.windowHours * 3600) / METRIC_PERIOD_SECONDS));
  return {
    from: nowMs - idle.windowHours * 3_600_000,
    expected,
    need: Math.ceil(expected * idle.minDatapointCoverage),
    words: formatHours(idle.windowHours),
  };
}

/** "Unknown: not enough metrics" naming each series with too few datapoints, or null when all have enough. */
function tooFewDatapoints(
  counts: readonly (readonly [string, number])[],
  w: ReturnType<typeof metricWindow>,
): Verdict | null {
  const short = counts.filter(([, n]) => n < w.need);
  if (short.length === 0) return null;
  return {
    holds: 'unknown',
    reason: `not enough metrics to judge idle: ${short
      .map(([m, n]) => `${m} ${n} of ${w.expected} datapoints`)
      .join(', ')} in the last ${w.words} (need ${w.need})`,
  };
}

/** Notebooks: the last-activity tag they write themselves. No tag (or none since the last start) = unknown. */
function judgeNotebookIdle({ instance, policy, nowMs, runningHours, measured }: JudgeInput): Verdict {
  const idle = policy.idle;
  const young = tooYoung(runningHours, idle);
  if (young) return young;
  const raw = instance.tags[TAGS.lastActivity];
  const install = 'install the lifecycle configuration (docs/notebooks-and-databases.md)';
  if (raw === undefined) {
    return { holds: 'unknown', reason: `activity not measured: ${install}; not judged idle` };
  }
  const at = Date.parse(raw);
  if (!Number.isFinite(at)) {
    return { holds: 'unknown', reason: `activity tag ${TAGS.lastActivity} is not a time; not judged idle` };
  }
  const launchMs = Date.parse(instance.launchTime);
  // The lifecycle script writes the tag when the notebook starts: a value from well before the last start means
  // it has not run since (removed?), so nothing is known about this run's use.
  if (Number.isFinite(launchMs) && at < launchMs - 15 * 60_000) {
    return {
      holds: 'unknown',
      reason: `activity not measured since the last start (is the lifecycle configuration still attached? ${install}); not judged idle`,
    };
  }
  const last = Math.min(nowMs, Number.isFinite(launchMs) ? Math.max(at, launchMs) : at);
  const inactiveHours = (nowMs - last) / 3_600_000;
  measured.lastActivityAt = new Date(at).toISOString();
  measured.inactiveHours = round(inactiveHours, 2);
  const holds = inactiveHours >= idle.windowHours;
  return {
    holds,
    reason: `${holds ? 'idle' : 'busy'}: last kernel or terminal activity ${new Date(at).toISOString()}, ${fmt(inactiveHours)} h ago (limit ${formatHours(idle.windowHours)})`,
  };
}

/** Databases: no connections at all and CPU below the limit over the window (enough datapoints of both). */
function judgeDatabaseIdle({
  instance,
  metrics,
  policy,
  nowMs,
  runningHours,
  measured,
}: JudgeInput): Verdict {
  const idle = policy.idle;
  const restarted = instance.restartedByAws ? ' (restarted by AWS after 7 days stopped)' : '';
  const young = tooYoung(runningHours, idle, restarted);
  if (young) return young;
  if (!metrics) return { holds: 'unknown', reason: 'no CloudWatch metrics: not judged idle' };
  const w = metricWindow(idle, nowMs);
  const window = w.words;
  const connections = inWindow(metrics.connections, w.from, nowMs);
  const cpu = inWindow(metrics.cpu, w.from, nowMs);
  measured.expectedDatapoints = w.expected;
  measured.cpuDatapoints = cpu.length;
  const short = tooFewDatapoints(
    [
      ['DatabaseConnections', connections.length],
      ['CPU', cpu.length],
    ],
    w,
  );
  if (short) return short;
  const maxConnections = Math.max(...connections);
  const cpuAvg = mean(cpu);
  measured.connectionsMax = maxConnections;
  measured.cpuAvgPercent = round(cpuAvg, 2);
  const holds = maxConnections === 0 && cpuAvg < idle.cpuPercent;
  const used = maxConnections === 0 ? 'no connections' : `up to ${fmt(maxConnections)} connections`;
  return {
    holds,
    reason: `${holds ? 'idle' : 'busy'}: ${used}, CPU avg ${fmt(cpuAvg)}% (limit ${idle.cpuPercent}%) over ${window}${restarted}`,
  };
}

function judgeEc2Idle({ instance, metrics, policy, nowMs, runningHours, measured }: JudgeInput): Verdict {
  const idle = policy.idle;
  const young = tooYoung(runningHours, idle);
  if (young) return young;
  if (!metrics) return { holds: 'unknown', reason: 'no CloudWatch metrics: not judged idle' };
  const w = metricWindow(idle, nowMs);
  const { from, expected, need } = w;
  const cpu = inWindow(metrics.cpu, from, nowMs);
  const window = w.words;
  if (metrics.networkIn === undefined && metrics.networkOut === undefined) {
    // CPU first (src/core/kinds.ts): network is only read for instances whose CPU is low.
    measured.expectedDatapoints = expected;
    measured.cpuDatapoints = cpu.length;
    if (cpu.length >= need && mean(cpu) >= idle.cpuPercent) {
      measured.cpuAvgPercent = round(mean(cpu), 2);
      return {
        holds: false,
        reason: `busy: CPU avg ${fmt(mean(cpu))}% (limit ${idle.cpuPercent}%) over ${window}; network not read (CPU decides)`,
      };
    }
    return (
      tooFewDatapoints([['CPU', cpu.length]], w) ?? {
        holds: 'unknown',
        reason: 'network not measured: not judged idle',
      }
    );
  }
  const netIn = inWindow(metrics.networkIn, from, nowMs);
  const netOut = inWindow(metrics.networkOut, from, nowMs);
  measured.expectedDatapoints = expected;
  measured.cpuDatapoints = cpu.length;
  const short = tooFewDatapoints(
    [
      ['CPU', cpu.length],
      ['NetworkIn', netIn.length],
      ['NetworkOut', netOut.length],
    ],
    w,
  );
  if (short) return short;
  const cpuAvg = mean(cpu);
  // Scale the network sum up to the whole window so that missing datapoints never make it look quieter.
  const netMB = (sum(netIn) * (expected / netIn.length) + sum(netOut) * (expected / netOut.length)) / MB;
  measured.cpuAvgPercent = round(cpuAvg, 2);
  measured.networkMB = round(netMB, 2);
  const parts = [
    `CPU avg ${fmt(cpuAvg)}% (limit ${idle.cpuPercent}%)`,
    `network ${fmt(netMB)} MB (limit ${idle.networkMB} MB)`,
  ];
  let gpuIdle = true;
  if (instance.typeInfo?.gpu) {
    const gpu = metrics.gpu ? inWindow(metrics.gpu, from, nowMs) : [];
    if (gpu.length >= need) {
      const gpuAvg = mean(gpu);
      measured.gpuAvgPercent = round(gpuAvg, 2);
      gpuIdle = gpuAvg < idle.gpuPercent;
      parts.push(`GPU avg ${fmt(gpuAvg)}% of 5-min peaks (limit ${idle.gpuPercent}%)`);
    } else {
      parts.push(
        'no GPU metric (install the CloudWatch agent to include GPU use), judged on CPU and network',
      );
    }
  }
  const holds = cpuAvg < idle.cpuPercent && netMB < idle.networkMB && gpuIdle;
  return { holds, reason: `${holds ? 'idle' : 'busy'}: ${parts.join(', ')} over ${window}` };
}

function judgeUptime({ instance, policy, runningHours, measured }: JudgeInput): Verdict {
  if (runningHours === null) return { holds: 'unknown', reason: 'launch time unknown: uptime not judged' };
  const eligible = instance.typeInfo?.freeTierEligible;
  const limits = policy.maxRunningHours;
  let limit: number | null;
  let cls: string;
  if (eligible === true) {
    limit = limits.freeTier;
    cls = 'free-tier types';
  } else if (eligible === false) {
    limit = limits.nonFreeTier;
    cls = 'non-free-tier types';
  } else {
    // Unknown class: the more lenient limit, so that a failed lookup never stops anything sooner.
    limit =
      limits.freeTier === null || limits.nonFreeTier === null
        ? null
        : Math.max(limits.freeTier, limits.nonFreeTier);
    cls = 'an instance of unknown free-tier class';
  }
  if (limit === null) return { holds: false, reason: '' };
  measured.uptimeLimitHours = limit;
  const holds = runningHours > limit;
  return {
    holds,
    reason: holds
      ? `over uptime: running ${fmt(runningHours)} h since its last start${
          instance.restartedByAws ? ' (restarted by AWS after 7 days stopped)' : ''
        } (limit ${limit} h for ${cls})`
      : '',
  };
}

/**
 * Not free tier: the type is not FreeTierEligible for this account and region (DescribeInstanceTypes) and not in
 * nonFreeTier.allowedTypes. Unknown eligibility is "unknown", never "free". The launch guard uses it too.
 */
export function judgeFreeTier(instance: Instance, policy: Policy): Verdict {
  const eligible = instance.typeInfo?.freeTierEligible;
  if (eligible === undefined) {
    return { holds: 'unknown', reason: `free-tier eligibility of ${instance.instanceType} unknown` };
  }
  if (eligible) return { holds: false, reason: instance.typeInfo?.freeTierNote ?? '' };
  if (policy.nonFreeTier.allowedTypes.includes(instance.instanceType)) {
    return { holds: false, reason: '' };
  }
  const kind = instance.kind ?? 'ec2';
  if (kind !== 'ec2') {
    const section = kind === 'sagemaker-notebook' ? 'notebooks' : 'databases';
    const why =
      instance.multiAz === true
        ? ' (Multi-AZ is never free tier)'
        : instance.engine?.startsWith('aurora')
          ? ' (Aurora is never free tier)'
          : '';
    return {
      holds: true,
      reason: `not free tier: ${instance.instanceType} is not in ${section}.freeTierTypes${why} and not in ${section}.allowedTypes`,
    };
  }
  return {
    holds: true,
    reason: `not free tier: ${instance.instanceType} is not free-tier eligible in ${instance.region} for this account and not in nonFreeTier.allowedTypes`,
  };
}

function judgeBudget(context: EvaluateContext, measured: Measured): Verdict {
  const b = context.budget;
  if (!b) return { holds: false, reason: '' };
  measured.budgetEstimateUsd = round(b.estimateUsd, 2);
  measured.budgetLimitUsd = b.limitUsd;
  const holds = b.estimateUsd >= b.limitUsd;
  return {
    holds,
    reason: holds
      ? `over budget: this month's estimated EC2 cost $${b.estimateUsd.toFixed(2)} has reached budget.monthlyUsd $${b.limitUsd.toFixed(2)}`
      : '',
  };
}

function inWindow(points: Point[] | undefined, from: number, to: number): number[] {
  const values: number[] = [];
  for (const p of points ?? [])
    if (p.at > from && p.at <= to && Number.isFinite(p.value)) values.push(p.value);
  return values;
}

function sum(values: number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : sum(values) / values.length;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(n < 1 ? 2 : 1);
}

function formatHours(h: number): string {
  return h < 1 ? `${Math.round(h * 60)} min` : `${h} h`;
}
