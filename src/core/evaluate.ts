import { type Instance, type InstanceMetrics, type InstanceRef, instanceRef } from './instance.js';
import { AWS_MANAGED_TAGS, FORGEABLE_MANAGED_TAG_PREFIXES, type Policy, TAGS } from './policy.js';
import {
  type EvaluateContext,
  type Measured,
  parseRule,
  RULE_IDS,
  RULES,
  type Rule,
  type Verdict,
} from './rules.js';

export type { EvaluateContext, Measured, Rule } from './rules.js';

/** What the sweep does with an instance. */
export type Action = 'none' | 'warn' | 'stop' | 'report';

/** Why an instance is never stopped by the watchdog, only reported. */
export type Protection =
  | 'exempt'
  | 'snoozed'
  | 'auto-scaling'
  | 'eks'
  | 'service-managed'
  | 'emr'
  | 'spot-fleet'
  | 'spot'
  | 'non-on-demand'
  | 'instance-store'
  | 'stop-protected'
  | 'not-stoppable';

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
  const runningHours = Number.isFinite(launchMs) ? Math.max(0, (nowMs - launchMs) / 3_600_000) : null;
  const measured: Measured = { runningHours: round(runningHours ?? 0, 2) };

  const input = { instance, metrics, policy, nowMs, runningHours, context, measured };
  // One pass over the rules, no intermediate arrays or copies of the decision: this runs for every instance of
  // every sweep (docs/scale.md, CPU).
  const verdicts = {} as Record<Rule, Verdict>;
  const rulesHolding: Rule[] = [];
  const stoppable: Rule[] = [];
  const ruleReasons: Partial<Record<Rule, string>> = {};
  let unknown = false;
  for (const r of RULE_IDS) {
    const v = RULES[r].judge(input);
    verdicts[r] = v;
    if (v.holds === true) {
      rulesHolding.push(r);
      ruleReasons[r] = v.reason;
      if (RULES[r].mayStop(policy)) stoppable.push(r);
    } else if (v.holds === 'unknown') unknown = true;
  }

  const protection = findProtection(instance, policy, nowMs);
  const warning = readWarning(instance, nowMs, launchMs);
  const hasWarningTag = instance.tags[TAGS.warnedAt] !== undefined;
  const graceMs = policy.graceMinutes * 60_000;

  // Reasons: the rules that hold first, then what was measured for the others.
  const forged = protection ? [] : forgeableManagedTags(instance);
  const reasons: string[] = protection ? [`never stopped: ${protection.reason}`] : [];
  for (const r of rulesHolding) if (verdicts[r].reason.length > 0) reasons.push(verdicts[r].reason);
  for (const r of RULE_IDS) {
    const v = verdicts[r];
    if (v.holds !== true && v.reason.length > 0) reasons.push(v.reason);
  }
  if (forged.length > 0) reasons.push(forgedReason(forged));

  const decide = (
    action: Action,
    rule: Rule | null,
    extra: { newWarning?: boolean; stopAfter?: string; clearWarning?: boolean; reason?: string } = {},
  ): Decision => {
    if (extra.reason !== undefined) reasons.push(extra.reason);
    // The fields are added to the InstanceRef object, in the order a spread would give: an object literal that
    // starts with a spread of objects of varying shapes takes V8's slow path (about 7 µs and a dictionary-mode
    // object per decision, measured).
    const d = instanceRef(instance, policy.tags.owner) as Decision;
    d.action = action;
    d.rule = rule;
    d.reasons = reasons;
    d.protection = protection?.kind ?? null;
    d.rulesHolding = rulesHolding;
    d.ruleReasons = ruleReasons;
    d.warnedAt = warning ? iso(warning.at) : null;
    d.newWarning = extra.newWarning ?? false;
    d.stopAfter = extra.stopAfter ?? null;
    d.clearWarning = extra.clearWarning ?? false;
    d.hibernate = instance.hibernationConfigured === true;
    d.measured = measured;
    return d;
  };
  const holding = rulesHolding[0] ?? null;
  const reported: Action = rulesHolding.length > 0 ? 'report' : 'none';

  if (protection) return decide(reported, holding, { clearWarning: hasWarningTag });

  if (stoppable.length > 0) {
    const warnedRuleStillHolds =
      warning !== null && (warning.rule === null || stoppable.includes(warning.rule));
    if (warning !== null && warnedRuleStillHolds) {
      const rule = warning.rule ?? (stoppable[0] as Rule);
      const stopAt = Math.max(warning.at + graceMs, verdicts[rule].stopNotBefore ?? 0);
      if (nowMs >= stopAt) {
        return decide('stop', rule, {
          stopAfter: iso(stopAt),
          reason: `warned at ${iso(warning.at)}, grace of ${policy.graceMinutes} min has passed`,
        });
      }
      return decide('warn', rule, {
        stopAfter: iso(stopAt),
        reason: `warned at ${iso(warning.at)}; will be stopped after ${iso(stopAt)}`,
      });
    }
    const rule = stoppable[0] as Rule;
    const stopAt = Math.max(nowMs + graceMs, verdicts[rule].stopNotBefore ?? 0);
    return decide('warn', rule, {
      newWarning: true,
      stopAfter: iso(stopAt),
      reason: `will be stopped after ${iso(stopAt)} unless this changes`,
    });
  }

  // A warning whose rule could not be judged this run (CloudWatch down, gaps in the metrics) is kept, not
  // cleared: "no longer applies" would be untrue, and clearing it would restart the grace at every outage.
  const undecided =
    warning !== null && (warning.rule === null ? unknown : verdicts[warning.rule].holds === 'unknown');
  if (undecided) {
    return decide(reported, holding, {
      reason: 'the earlier warning stays: its rule could not be judged this run',
    });
  }
  return decide(reported, holding, {
    clearWarning: hasWarningTag,
    ...(hasWarningTag ? { reason: 'the earlier warning no longer applies: cleared' } : {}),
  });
}

/** Why tags that claim "managed" did not protect the instance. */
export function forgedReason(keys: readonly string[]): string {
  return `not treated as managed: tag ${keys.join(', ')} can be set by anyone who may tag the instance, and nothing AWS sets (an aws:* tag or an Operator) confirms it`;
}

/**
 * Why an instance must never be stopped by the watchdog, or null. Only the admin's exempt tag and signals nobody
 * can forge count: `aws:*` tags AWS sets when Auto Scaling, EC2 Fleet / Spot Fleet or EMR launch an instance,
 * the Operator DescribeInstances reports for service-managed instances (EKS Auto Mode), the InstanceLifecycle,
 * the root device type and stop protection; and a database the service refuses to stop (`cannotStop`: a read
 * replica, SQL Server Multi-AZ, ...). Each reason names the signal it came from. Tags such as
 * `kubernetes.io/cluster/*` or `eks:cluster-name`, which anyone allowed to tag can set, are not trusted
 * (forgeableManagedTags() lists them for the reasons and the launch guard).
 */
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
  if (instance.cannotStop !== undefined) {
    return { kind: 'not-stoppable', reason: instance.cannotStop };
  }
  const set = (key: string) => `tag ${key}, set by AWS`;
  const asg = tags[AWS_MANAGED_TAGS.autoScalingGroup];
  if (asg !== undefined) {
    return {
      kind: 'auto-scaling',
      reason: `member of Auto Scaling group ${asg} (${set(AWS_MANAGED_TAGS.autoScalingGroup)})`,
    };
  }
  if (instance.operator !== undefined) {
    return {
      kind: /\beks\b/.test(instance.operator) ? 'eks' : 'service-managed',
      reason: `managed by ${instance.operator} (Operator in DescribeInstances, set by AWS)`,
    };
  }
  const emr = tags[AWS_MANAGED_TAGS.emrCluster];
  if (emr !== undefined) {
    return { kind: 'emr', reason: `EMR cluster node ${emr} (${set(AWS_MANAGED_TAGS.emrCluster)})` };
  }
  for (const key of [AWS_MANAGED_TAGS.spotFleet, AWS_MANAGED_TAGS.ec2Fleet]) {
    if (tags[key] !== undefined) {
      return { kind: 'spot-fleet', reason: `member of a Spot Fleet / EC2 Fleet ${tags[key]} (${set(key)})` };
    }
  }
  if (instance.lifecycle === 'spot') {
    return { kind: 'spot', reason: 'spot instance (InstanceLifecycle spot in DescribeInstances)' };
  }
  if (
    instance.lifecycle !== undefined &&
    instance.lifecycle !== 'on-demand' &&
    instance.lifecycle !== 'normal'
  ) {
    return {
      kind: 'non-on-demand',
      reason: `${instance.lifecycle} instance (InstanceLifecycle in DescribeInstances)`,
    };
  }
  if (instance.rootDeviceType === 'instance-store') {
    return { kind: 'instance-store', reason: 'instance-store root device (cannot be stopped)' };
  }
  if (instance.stopProtected === true) {
    return { kind: 'stop-protected', reason: 'stop protection is on (DisableApiStop)' };
  }
  return null;
}

/**
 * Tags on the instance that claim it is a Kubernetes / EKS / Karpenter node but that any user allowed to tag can
 * set (FORGEABLE_MANAGED_TAG_PREFIXES). They never protect an instance; they are named in its reasons and, at
 * launch, reported to the admin.
 */
export function forgeableManagedTags(instance: Instance): string[] {
  return Object.keys(instance.tags)
    .filter((k) => FORGEABLE_MANAGED_TAG_PREFIXES.some((p) => k.startsWith(p)))
    .sort();
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
  const rule = parseRule(instance.tags[TAGS.warnRule]);
  return { at: when, rule };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The longest tag value AWS accepts. */
const TAG_VALUE_MAX = 256;

/** A stop-reason tag value: the text within the 256-character tag limit (one truncation rule for every stop). */
export function stopReasonTag(text: string): string {
  const value = text.trim() === '' ? 'stopped by cost-watchdog' : text;
  return value.length > TAG_VALUE_MAX ? `${value.slice(0, TAG_VALUE_MAX - 3)}...` : value;
}

/** The text a stop of this decision records: its rule's measured reason, else its first reason. */
export function stopReasonOf(d: Decision): string {
  return (d.rule ? d.ruleReasons[d.rule] : undefined) ?? d.reasons[0] ?? 'stopped by cost-watchdog';
}

/** A stop, or a new warning (which announces a stop): stop protection must be looked up first. */
export function needsProtectionCheck(d: Decision): boolean {
  return d.action === 'stop' || (d.action === 'warn' && d.newWarning);
}

/**
 * A decision that waits for the next run (`why`: e.g. the run's bound on stop-protection checks): a stop stays a
 * warning (its warning is kept, so it is stopped next run), a new warning is not written (nothing changes).
 */
export function postpone(d: Decision, why: string): Decision {
  return d.action === 'stop'
    ? { ...d, action: 'warn', reasons: [...d.reasons, `stop postponed to the next run: ${why}`] }
    : {
        ...d,
        action: 'none',
        newWarning: false,
        reasons: [...d.reasons, `warning postponed to the next run: ${why}`],
      };
}

/**
 * A decision whose stop-protection lookup failed: a new warning still goes out (the lookup is repeated before the
 * stop), a stop waits for the next run; never "not protected" by default.
 */
export function afterFailedProtectionCheck(d: Decision): Decision {
  if (d.action !== 'stop') return d;
  return {
    ...d,
    action: 'warn',
    reasons: [...d.reasons, 'stop postponed: stop protection could not be checked'],
  };
}
