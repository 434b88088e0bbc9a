import {
  type Instance,
  type InstanceMetrics,
  type InstanceRef,
  instanceRef,
  METRIC_PERIOD_SECONDS,
  type Point,
} from './instance.js';
import { type Policy, TAGS } from './policy.js';

/** What the sweep does with an instance. */
export type Action = 'none' | 'warn' | 'stop' | 'report';

/** Why an instance costs money for nothing. */
export type Rule = 'idle' | 'over-uptime' | 'non-free-tier' | 'over-budget';

/** Facts beyond one instance that rules may need: this month's estimated cost against the budget. */
export interface EvaluateContext {
  budget?: { estimateUsd: number; limitUsd: number };
}

/** Why an instance is never stopped by the watchdog, only reported. */
export type Protection =
  | 'exempt'
  | 'snoozed'
  | 'auto-scaling'
  | 'eks'
  | 'emr'
  | 'spot-fleet'
  | 'spot'
  | 'non-on-demand'
  | 'instance-store'
  | 'stop-protected';

/** The numbers a decision was based on (for alerts, plan and the JSON report). */
export interface Measured {
  runningHours: number;
  cpuAvgPercent?: number;
  networkMB?: number;
  gpuAvgPercent?: number;
  cpuDatapoints?: number;
  expectedDatapoints?: number;
}

/** The outcome of evaluate(): an action, the rule behind it and human reasons with the measured numbers. */
export interface Decision extends InstanceRef {
  action: Action;
  /** The rule that drives the action (for `report`/`none` the first rule that holds, if any). */
  rule: Rule | null;
  reasons: string[];
  protection: Protection | null;
  /** Every rule that holds now. */
  rulesHolding: Rule[];
  /** The existing warning (tag), if any; once the sweep has written a new warning, that warning's time. */
  warnedAt: string | null;
  /** A warning is written now (tag + alert). */
  newWarning: boolean;
  /** Earliest stop time for a warned instance. */
  stopAfter: string | null;
  /** The warning tag exists but no longer applies: remove it. */
  clearWarning: boolean;
  /** Stop with hibernation (the instance was launched with it). */
  hibernate: boolean;
  measured: Measured;
  /** The measured reason of each rule that holds, e.g. `idle: CPU avg 0.4% (limit 5%), ...` (stop records). */
  ruleReasons: Partial<Record<Rule, string>>;
}

type Verdict = { holds: boolean | 'unknown'; reason: string };

const MB = 1_000_000;

/**
 * Decides what to do with one running instance at time `now`. Pure: the clock, the metrics and the policy
 * are arguments, so every rule is a table test. Missing metrics never make an instance idle; protected
 * instances are only ever reported; a stop needs an earlier warning for the same rule and an elapsed grace.
 */
export function evaluate(
  instance: Instance,
  metrics: InstanceMetrics | undefined,
  policy: Policy,
  now: Date,
  context: EvaluateContext = {},
): Decision {
  const nowMs = now.getTime();
  const launchMs = Date.parse(instance.launchTime);
  const runningHours = Number.isFinite(launchMs) ? Math.max(0, (nowMs - launchMs) / 3_600_000) : 0;
  const measured: Measured = { runningHours: round(runningHours, 2) };

  const verdicts: Record<Rule, Verdict> = {
    idle: judgeIdle(instance, metrics, policy, nowMs, runningHours, measured),
    'over-uptime': judgeUptime(instance, policy, runningHours, Number.isFinite(launchMs)),
    'non-free-tier': judgeFreeTier(instance, policy),
    'over-budget': judgeBudget(context),
  };
  const order: Rule[] = ['idle', 'over-uptime', 'non-free-tier', 'over-budget'];
  const rulesHolding = order.filter((r) => verdicts[r].holds === true);
  const stoppable = rulesHolding.filter(
    (r) =>
      (r !== 'non-free-tier' || policy.nonFreeTier.action === 'stop') &&
      (r !== 'over-budget' || policy.budget.action === 'stop'),
  );

  const protection = findProtection(instance, policy, nowMs);
  const warning = readWarning(instance, nowMs, launchMs);
  const hasWarningTag = instance.tags[TAGS.warnedAt] !== undefined;
  const graceMs = policy.graceMinutes * 60_000;

  const base: Decision = {
    ...instanceRef(instance, policy.tags.owner),
    action: 'none',
    rule: rulesHolding[0] ?? null,
    reasons: [],
    protection: protection?.kind ?? null,
    rulesHolding,
    ruleReasons: Object.fromEntries(rulesHolding.map((r) => [r, verdicts[r].reason])),
    warnedAt: warning ? new Date(warning.at).toISOString() : null,
    newWarning: false,
    stopAfter: null,
    clearWarning: false,
    hibernate: instance.hibernationConfigured === true,
    measured,
  };
  // Reasons: the rules that hold first, then what was measured for the others.
  const reasons = [
    ...rulesHolding.map((r) => verdicts[r].reason),
    ...order.filter((r) => verdicts[r].holds !== true).map((r) => verdicts[r].reason),
  ].filter((r) => r.length > 0);

  if (protection) {
    return {
      ...base,
      action: rulesHolding.length > 0 ? 'report' : 'none',
      reasons: [`never stopped: ${protection.reason}`, ...reasons],
      clearWarning: hasWarningTag,
    };
  }

  if (stoppable.length > 0) {
    const warnedRuleStillHolds =
      warning !== null && (warning.rule === null || stoppable.includes(warning.rule));
    if (warning !== null && warnedRuleStillHolds) {
      const rule = warning.rule ?? (stoppable[0] as Rule);
      const stopAt = warning.at + graceMs;
      if (nowMs >= stopAt) {
        return {
          ...base,
          action: 'stop',
          rule,
          reasons: [
            ...reasons,
            `warned at ${iso(warning.at)}, grace of ${policy.graceMinutes} min has passed`,
          ],
          stopAfter: iso(stopAt),
        };
      }
      return {
        ...base,
        action: 'warn',
        rule,
        reasons: [...reasons, `warned at ${iso(warning.at)}; will be stopped after ${iso(stopAt)}`],
        stopAfter: iso(stopAt),
      };
    }
    const rule = stoppable[0] as Rule;
    const stopAt = nowMs + graceMs;
    return {
      ...base,
      action: 'warn',
      rule,
      newWarning: true,
      reasons: [...reasons, `will be stopped after ${iso(stopAt)} unless this changes`],
      stopAfter: iso(stopAt),
    };
  }

  // A warning whose rule could not be judged this run (CloudWatch down, gaps in the metrics) is kept, not
  // cleared: "no longer applies" would be untrue, and clearing it would restart the grace at every outage.
  const undecided =
    warning !== null &&
    (warning.rule === null
      ? order.some((r) => verdicts[r].holds === 'unknown')
      : verdicts[warning.rule].holds === 'unknown');
  if (undecided) {
    return {
      ...base,
      action: rulesHolding.length > 0 ? 'report' : 'none',
      reasons: [...reasons, 'the earlier warning stays: its rule could not be judged this run'],
    };
  }
  return {
    ...base,
    action: rulesHolding.length > 0 ? 'report' : 'none',
    reasons: hasWarningTag ? [...reasons, 'the earlier warning no longer applies: cleared'] : reasons,
    clearWarning: hasWarningTag,
  };
}

function judgeIdle(
  instance: Instance,
  metrics: InstanceMetrics | undefined,
  policy: Policy,
  nowMs: number,
  runningHours: number,
  measured: Measured,
): Verdict {
  const idle = policy.idle;
  const runningMinutes = runningHours * 60;
  if (runningMinutes < idle.minRunningMinutes) {
    return {
      holds: false,
      reason: `running ${Math.floor(runningMinutes)} min, under idle.minRunningMinutes (${idle.minRunningMinutes})`,
    };
  }
  if (!metrics) return { holds: 'unknown', reason: 'no CloudWatch metrics: not judged idle' };
  const windowMs = idle.windowHours * 3_600_000;
  const from = nowMs - windowMs;
  const expected = Math.max(1, Math.round((idle.windowHours * 3600) / METRIC_PERIOD_SECONDS));
  const need = Math.ceil(expected * idle.minDatapointCoverage);
  const cpu = inWindow(metrics.cpu, from, nowMs);
  const netIn = inWindow(metrics.networkIn, from, nowMs);
  const netOut = inWindow(metrics.networkOut, from, nowMs);
  measured.expectedDatapoints = expected;
  measured.cpuDatapoints = cpu.length;
  const window = `${formatHours(idle.windowHours)}`;
  const short = [
    ['CPU', cpu.length],
    ['NetworkIn', netIn.length],
    ['NetworkOut', netOut.length],
  ].filter(([, n]) => (n as number) < need);
  if (short.length > 0) {
    return {
      holds: 'unknown',
      reason: `not enough metrics to judge idle: ${short
        .map(([m, n]) => `${m} ${n} of ${expected} datapoints`)
        .join(', ')} in the last ${window} (need ${need})`,
    };
  }
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
      parts.push(`GPU avg ${fmt(gpuAvg)}% (limit ${idle.gpuPercent}%)`);
    } else {
      parts.push(
        'no GPU metric (install the CloudWatch agent to include GPU use), judged on CPU and network',
      );
    }
  }
  const holds = cpuAvg < idle.cpuPercent && netMB < idle.networkMB && gpuIdle;
  return { holds, reason: `${holds ? 'idle' : 'busy'}: ${parts.join(', ')} over ${window}` };
}

function judgeUptime(instance: Instance, policy: Policy, runningHours: number, known: boolean): Verdict {
  if (!known) return { holds: 'unknown', reason: 'launch time unknown: uptime not judged' };
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
  const holds = runningHours > limit;
  return {
    holds,
    reason: holds
      ? `over uptime: running ${fmt(runningHours)} h since its last start (limit ${limit} h for ${cls})`
      : '',
  };
}

function judgeFreeTier(instance: Instance, policy: Policy): Verdict {
  const eligible = instance.typeInfo?.freeTierEligible;
  if (eligible === undefined) {
    return { holds: 'unknown', reason: `free-tier eligibility of ${instance.instanceType} unknown` };
  }
  if (eligible) return { holds: false, reason: '' };
  if (policy.nonFreeTier.allowedTypes.includes(instance.instanceType)) {
    return { holds: false, reason: '' };
  }
  return {
    holds: true,
    reason: `not free tier: ${instance.instanceType} is not free-tier eligible in ${instance.region} for this account and not in nonFreeTier.allowedTypes`,
  };
}

function judgeBudget(context: EvaluateContext): Verdict {
  const b = context.budget;
  if (!b) return { holds: false, reason: '' };
  const holds = b.estimateUsd >= b.limitUsd;
  return {
    holds,
    reason: holds
      ? `over budget: this month's estimated EC2 cost $${b.estimateUsd.toFixed(2)} has reached budget.monthlyUsd $${b.limitUsd.toFixed(2)}`
      : '',
  };
}

/** Why an instance must never be stopped by the watchdog, or null. */
export function findProtection(
  instance: Instance,
  policy: Policy,
  nowMs: number,
): { kind: Protection; reason: string } | null {
  const tags = instance.tags;
  const exemptKey = policy.tags.exempt;
  const exempt = tags[exemptKey];
  if (exempt !== undefined) {
    const value = exempt.trim();
    if (value.toLowerCase() === 'true') return { kind: 'exempt', reason: `exempt (tag ${exemptKey}=true)` };
    if (value.toLowerCase() !== 'false') {
      const until = parseSnooze(value);
      if (until === null) {
        return {
          kind: 'exempt',
          reason: `exempt (tag ${exemptKey}="${value}" is not true/false or a date; treated as exempt)`,
        };
      }
      if (until > nowMs) return { kind: 'snoozed', reason: `snoozed until ${iso(until)} (tag ${exemptKey})` };
    }
  }
  if (tags['aws:autoscaling:groupName'] !== undefined) {
    return {
      kind: 'auto-scaling',
      reason: `member of Auto Scaling group ${tags['aws:autoscaling:groupName']}`,
    };
  }
  if (
    tags['eks:cluster-name'] !== undefined ||
    tags['eks:nodegroup-name'] !== undefined ||
    Object.keys(tags).some((k) => k.startsWith('kubernetes.io/cluster/'))
  ) {
    return { kind: 'eks', reason: 'EKS / Kubernetes node' };
  }
  if (tags['aws:elasticmapreduce:job-flow-id'] !== undefined) {
    return { kind: 'emr', reason: `EMR cluster node (${tags['aws:elasticmapreduce:job-flow-id']})` };
  }
  if (tags['aws:ec2spot:fleet-request-id'] !== undefined || tags['aws:ec2:fleet-id'] !== undefined) {
    return { kind: 'spot-fleet', reason: 'member of a Spot Fleet / EC2 Fleet' };
  }
  if (instance.lifecycle === 'spot') return { kind: 'spot', reason: 'spot instance' };
  if (
    instance.lifecycle !== undefined &&
    instance.lifecycle !== 'on-demand' &&
    instance.lifecycle !== 'normal'
  ) {
    return { kind: 'non-on-demand', reason: `${instance.lifecycle} instance` };
  }
  if (instance.rootDeviceType === 'instance-store') {
    return { kind: 'instance-store', reason: 'instance-store root device (cannot be stopped)' };
  }
  if (instance.stopProtected === true) return { kind: 'stop-protected', reason: 'stop protection is on' };
  return null;
}

/** A snooze value: an ISO date (`2026-12-01`, start of that day UTC) or date-time. Null when not a date. */
export function parseSnooze(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return null;
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  return Number.isFinite(ms) ? ms : null;
}

function readWarning(
  instance: Instance,
  nowMs: number,
  launchMs: number,
): { at: number; rule: Rule | null } | null {
  const raw = instance.tags[TAGS.warnedAt];
  if (raw === undefined) return null;
  const at = Date.parse(raw);
  // A malformed or future warning time is not one grace can be counted from: warn afresh (rewrites the tag).
  if (!Number.isFinite(at) || at > nowMs + 5 * 60_000) return null;
  // A warning from before the last start belongs to an earlier run of the instance (left behind when the tag
  // cleanup after a stop failed): it never counts towards this run's grace. Warn afresh.
  if (Number.isFinite(launchMs) && at < launchMs) return null;
  const when = Math.min(at, nowMs);
  const ruleTag = instance.tags[TAGS.warnRule];
  const rule =
    ruleTag === 'idle' ||
    ruleTag === 'over-uptime' ||
    ruleTag === 'non-free-tier' ||
    ruleTag === 'over-budget'
      ? ruleTag
      : null;
  return { at: when, rule };
}

function inWindow(points: Point[], from: number, to: number): number[] {
  const values: number[] = [];
  for (const p of points) if (p.at > from && p.at <= to && Number.isFinite(p.value)) values.push(p.value);
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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
