/**
 * The launch guard's decision: which rules a just-started instance breaks (not free tier and not allowed,
 * no owner tag, a security group open to the world) and what follows from the policy: an alert, a warning
 * that lets the next sweep stop it after the grace period, or (launchGuard.immediate) a stop at once. Pure.
 */
import { DRY_RUN_BANNER } from './dry-run.js';
import { findProtection, forgeableManagedTags, type Protection } from './evaluate.js';
import { judgeFreeTier } from './rules.js';
import { type Instance, type InstanceRef, instanceRef } from './instance.js';
import { KIND_NAMES } from './kinds.js';
import { formatLocalTime, localizeTimes, nextRunText } from './local-time.js';
import type { Policy } from './policy.js';
import { type HourlyPrice, sourceLabel } from './prices.js';
import type { Alert } from './report.js';
import { RULES } from './rules.js';

/**
 * A rule a launch can break. `opted-out`: an instance of a provisioned user started exempt, snoozed, stop-protected
 * or with tags that claim it is a Kubernetes node: the people the watchdog watches must not switch it off for
 * themselves, so the admin hears of it within a minute.
 */
export type LaunchRule = 'non-free-tier' | 'missing-owner' | 'open-to-world' | 'opted-out';

/** Facts about the launch beyond the instance itself. */
export interface LaunchContext {
  /**
   * Whether the instance's owner is a provisioned user (a member of the cost-watchdog-users group). `unknown`
   * when IAM could not tell (lab accounts without IAM, a failed lookup): treated like a provisioned user.
   */
  ownerProvisioned: boolean | 'unknown';
}

/** Inbound rules of one security group, as plain data. */
export interface SecurityGroupRules {
  groupId: string;
  groupName?: string;
  ingress: { protocol: string; fromPort?: number; toPort?: number; cidrs: string[] }[];
}

/** One broken rule and its reason in words. */
export interface LaunchFinding {
  rule: LaunchRule;
  reason: string;
}

/** What the launch guard does: nothing, alert only, alert and warn (stop after grace), or alert and stop now. */
export type LaunchAction = 'none' | 'alert' | 'warn' | 'stop';

/** The launch guard's verdict for one instance. */
export interface LaunchVerdict extends InstanceRef {
  launchTime: string;
  price: HourlyPrice;
  findings: LaunchFinding[];
  action: LaunchAction;
  protection: Protection | null;
  /** What happens next, in words (admin wording; ISO times, rendered in the policy's time zone). */
  outcome: string;
  /**
   * What the sweep will do with it later, in plain words (the same for admin and owner; ISO times): when it warns
   * (idle, past its uptime limit, over budget) and how long after the warning it stops. Absent when the sweep never
   * stops it (protected) or it is stopped or warned already.
   */
  sweepPlan?: string;
  /** For `warn`: the earliest time the sweep stops it. */
  stopAfter?: string;
  /**
   * Turn stop protection off first (policy stopProtection: clear, an instance of a provisioned user). The verdict
   * is already the one for the instance without stop protection.
   */
  clearStopProtection?: boolean;
}

const WORLD = new Set(['0.0.0.0/0', '::/0']);

/** Inbound rules open to the whole internet (0.0.0.0/0 or ::/0), as "sg-1 (web): tcp 22 from 0.0.0.0/0". */
export function openToWorld(groups: readonly SecurityGroupRules[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    for (const rule of g.ingress) {
      for (const cidr of rule.cidrs) {
        if (!WORLD.has(cidr)) continue;
        out.push(
          `${g.groupId}${g.groupName ? ` (${g.groupName})` : ''}: ${describePorts(rule)} from ${cidr}`,
        );
      }
    }
  }
  return out;
}

function describePorts(rule: SecurityGroupRules['ingress'][number]): string {
  if (rule.protocol === '-1') return 'all traffic';
  const proto = rule.protocol === '6' ? 'tcp' : rule.protocol === '17' ? 'udp' : rule.protocol;
  if (rule.fromPort === undefined || rule.fromPort === -1) return `${proto} all ports`;
  const ports =
    rule.toPort === undefined || rule.toPort === rule.fromPort
      ? `${rule.fromPort}`
      : `${rule.fromPort}-${rule.toPort}`;
  return `${proto} ${ports}`;
}

/**
 * Checks a just-started instance. Non-free-tier means: not FreeTierEligible for this account and region and not
 * in nonFreeTier.allowedTypes (the policy's only list of allowed types, so it is also the "type not allowed"
 * check). Only that rule can lead to a stop, and only with nonFreeTier.action `stop`; protected instances
 * (exempt, snoozed, Auto Scaling, spot, ...) are never stopped, only alerted on. An instance of a provisioned user
 * that starts exempt, snoozed, stop-protected or with forgeable "managed" tags is an `opted-out` finding; with
 * policy stopProtection `clear` its stop protection is turned off (clearStopProtection) and it is judged without.
 */
export function checkLaunch(
  instance: Instance,
  groups: readonly SecurityGroupRules[],
  price: HourlyPrice,
  policy: Policy,
  now: Date,
  context: LaunchContext = { ownerProvisioned: false },
): LaunchVerdict {
  const findings: LaunchFinding[] = [];
  // The sweep's own judge (src/core/rules.ts): the same answer at launch and every hour after.
  const freeTier = judgeFreeTier(instance, policy);
  if (freeTier.holds === true) {
    // The alert names the rule itself ("- non-free-tier: ..."): the judge's "not free tier: " lead is left off.
    findings.push({ rule: 'non-free-tier', reason: freeTier.reason.replace(/^not free tier: /, '') });
  }
  const owner = instance.tags[policy.tags.owner]?.trim() ?? '';
  if (owner === '') {
    findings.push({
      rule: 'missing-owner',
      reason: `no ${policy.tags.owner} tag: nobody gets this instance's alerts`,
    });
  }
  const open = openToWorld(groups);
  if (open.length > 0) {
    findings.push({ rule: 'open-to-world', reason: `security group open to the world: ${open.join('; ')}` });
  }

  const watched = owner !== '' && context.ownerProvisioned !== false;
  const clearStopProtection = watched && instance.stopProtected === true && policy.stopProtection === 'clear';
  if (watched) {
    const optOuts = optOutsAtLaunch(instance, policy, now, clearStopProtection);
    if (optOuts.length > 0) {
      const unsure =
        context.ownerProvisioned === 'unknown'
          ? ` (whether ${owner} is a provisioned user could not be checked, so it is reported)`
          : '';
      findings.push({
        rule: 'opted-out',
        reason: `the instance of provisioned user ${owner} started ${optOuts.join('; ')}${unsure}`,
      });
    }
  }

  const judged = clearStopProtection ? { ...instance, stopProtected: false } : instance;
  const protection = findProtection(judged, policy, now.getTime());
  const base = {
    ...instanceRef(instance, policy.tags.owner),
    launchTime: instance.launchTime,
    price,
    findings,
    protection: protection?.kind ?? null,
    ...(clearStopProtection ? { clearStopProtection } : {}),
  };
  if (findings.length === 0) return { ...base, action: 'none', outcome: 'no rule broken' };

  const cleared = clearStopProtection
    ? 'its stop protection is turned off (stopProtection: clear in watchdog.yml); '
    : '';
  const stoppable = findings.some((f) => f.rule === 'non-free-tier') && policy.nonFreeTier.action === 'stop';
  if (!stoppable) {
    if (protection) {
      return {
        ...base,
        action: 'alert',
        outcome: `${cleared}reported only: the watchdog never stops it while it is ${protection.reason}`,
      };
    }
    const sweepPlan = sweepPlanOf(instance, policy);
    return { ...base, action: 'alert', outcome: `${cleared}alert only now; ${sweepPlan}`, sweepPlan };
  }
  if (protection) {
    return { ...base, action: 'alert', outcome: `never stopped by the watchdog: ${protection.reason}` };
  }
  if (policy.launchGuard.immediate) {
    return {
      ...base,
      action: 'stop',
      outcome: `${cleared}stopped at once (launchGuard.immediate: true with nonFreeTier.action: stop); nothing was deleted`,
    };
  }
  const stopAfter = new Date(now.getTime() + policy.graceMinutes * 60_000).toISOString();
  return {
    ...base,
    action: 'warn',
    stopAfter,
    outcome: `${cleared}warned: the next sweep after ${stopAfter} stops it (grace ${policy.graceMinutes} min)`,
  };
}

/**
 * What the sweep does later with an instance the launch guard only alerts on, in plain words with the policy's
 * numbers: "the sweep will warn it when it is idle (CPU under 5% and network under 5 MB over 2 h) or when it is still
 * running at <ISO>, 24 h after its start, and stop it 60 min after the warning".
 */
export function sweepPlanOf(instance: Instance, policy: Policy): string {
  const idle = policy.idle;
  const window = idle.windowHours < 1 ? `${Math.round(idle.windowHours * 60)} min` : `${idle.windowHours} h`;
  const idleIs =
    instance.kind === 'sagemaker-notebook'
      ? `no kernel or terminal activity for ${window}`
      : instance.kind === 'rds-instance' || instance.kind === 'rds-cluster'
        ? `no connections and CPU under ${idle.cpuPercent}% over ${window}`
        : `CPU under ${idle.cpuPercent}% and network under ${idle.networkMB} MB over ${window}`;
  const when = [`when it is idle (${idleIs})`];
  const eligible = instance.typeInfo?.freeTierEligible;
  const limits = policy.maxRunningHours;
  const limit =
    eligible === true
      ? limits.freeTier
      : eligible === false
        ? limits.nonFreeTier
        : limits.freeTier === null || limits.nonFreeTier === null
          ? null
          : Math.max(limits.freeTier, limits.nonFreeTier);
  const launch = Date.parse(instance.launchTime);
  if (limit !== null) {
    when.push(
      Number.isFinite(launch)
        ? `when it is still running at ${new Date(launch + limit * 3_600_000).toISOString()}, ${limit} h after its start`
        : `once it has run ${limit} h since its start`,
    );
  }
  if (RULES['over-budget'].mayStop(policy) && policy.budget.monthlyUsd !== null) {
    when.push("when the account's monthly budget is used up");
  }
  return `the sweep will warn it ${when.join(', or ')}; it stops it ${policy.graceMinutes} min after the warning`;
}

/** How an instance of a provisioned user started switched off from the watchdog, in words. */
function optOutsAtLaunch(instance: Instance, policy: Policy, now: Date, clearing: boolean): string[] {
  const out: string[] = [];
  const key = policy.tags.exempt;
  if (instance.tags[key] !== undefined) {
    // The exempt tag is the first thing findProtection() looks at, so an effective one is what it returns.
    const p = findProtection(instance, policy, now.getTime());
    if (p?.kind === 'exempt' || p?.kind === 'snoozed') {
      out.push(`${p.reason}: students cannot set ${key}; if neither you nor a keep link set it, remove it`);
    }
  }
  const forged = forgeableManagedTags(instance);
  if (forged.length > 0) {
    out.push(
      `with tag ${forged.join(', ')}, which claims a Kubernetes node (not trusted: the sweep still watches it)`,
    );
  }
  if (instance.stopProtected === true) {
    out.push(
      clearing
        ? 'with stop protection on (DisableApiStop); it is turned off now'
        : 'with stop protection on (DisableApiStop), so the watchdog cannot stop it: turn it off in the EC2 console (Actions > Instance settings > Change stop protection) or set stopProtection: clear in watchdog.yml',
    );
  }
  return out;
}

/** Formats an hourly price with its source: "$0.0832/h, about $2.00/day (estimate, table)"; unknown is "?". */
export function formatHourly(price: HourlyPrice): string {
  if (price.usdPerHour === null) return '? (unknown: not in the Price List API or the bundled table)';
  return `$${price.usdPerHour.toFixed(4)}/h, about $${(price.usdPerHour * 24).toFixed(2)}/day (estimate, ${sourceLabel(price.source)})`;
}

/** Who a launch alert is for: the admin (everything, with how to exempt) or the instance's owner (plain words). */
export type LaunchAudience = 'admin' | 'owner';

/** A broken launch rule in plain words for the instance's owner. */
function ownerFinding(f: LaunchFinding, v: LaunchVerdict, policy: Policy): string {
  switch (f.rule) {
    case 'non-free-tier':
      return `not free tier: ${RULES['non-free-tier'].wording.why({ instanceType: v.instanceType, measured: { runningHours: 0 } }, policy)}`;
    case 'open-to-world':
      return `open to the internet: ${f.reason.replace(/^security group open to the world: /, 'its security group lets anyone connect: ')}`;
    case 'missing-owner':
      return 'no owner: it carries no owner tag';
    case 'opted-out':
      return 'started with a setting that keeps cost-watchdog from stopping it; your instructor or administrator has been told';
  }
}

/** What happens to the instance, in plain words for its owner. */
function ownerOutcome(v: LaunchVerdict, policy: Policy): string {
  const tz = policy.timeZone;
  if (v.action === 'stop') {
    return 'It was stopped at once: this account does not allow this instance type. Nothing was deleted; start an allowed type instead, or ask your instructor or administrator.';
  }
  if (v.action === 'warn') {
    const when = v.stopAfter
      ? ` after ${formatLocalTime(new Date(v.stopAfter), tz)}`
      : ' after the grace period';
    return `It will be stopped${when}, because its type is not allowed here. ${sentence(RULES['non-free-tier'].wording.whatChangesIt)}.`;
  }
  if (v.protection) return 'cost-watchdog does not stop it; your instructor or administrator has been told.';
  return `Nothing happens now: ${localizeTimes(v.sweepPlan ?? 'the sweep checks it every run', tz)}.`;
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/**
 * The launch alert: instance, type, hourly price and every broken rule, what happens next and when the sweep runs
 * next, every time in the policy's time zone; as text and as JSON. The admin's says how to exempt the instance;
 * the owner's (`audience: 'owner'`) is in plain words and never tells them to set a tag (the guardrail refuses it).
 * `now` is when the alert is made (default: the launch time).
 */
export function renderLaunchAlert(
  v: LaunchVerdict,
  policy: Policy,
  options: { audience?: LaunchAudience; now?: Date } = {},
): Alert {
  const tz = policy.timeZone;
  const owner = options.audience === 'owner';
  const now = options.now ?? new Date(Date.parse(v.launchTime) || 0);
  const launched = Number.isFinite(Date.parse(v.launchTime))
    ? formatLocalTime(new Date(v.launchTime), tz)
    : 'an unknown time';
  const who = [v.name, v.owner ? `owner ${v.owner}` : undefined].filter(Boolean).join(', ');
  const priceNote = v.price.note ? [`        ${v.price.note}`] : [];
  const noun = v.kind ? KIND_NAMES[v.kind] : 'instance';
  const head = [
    `${noun.charAt(0).toUpperCase()}${noun.slice(1)} ${v.instanceId}${who ? ` (${who})` : ''} started in ${v.region} at ${launched}.`,
    '',
    `Type:   ${v.instanceType}`,
    `Price:  ${formatHourly(v.price)}`,
    ...priceNote,
    '',
  ];
  const sweep = `The sweep ${nextRunText(policy.schedule, now, tz)}.`;
  const text = owner
    ? [
        `Hello ${v.owner ?? 'there'},`,
        '',
        ...head,
        `Why you get this (${v.findings.length}):`,
        ...v.findings.map((f) => `- ${ownerFinding(f, v, policy)}`),
        '',
        ownerOutcome(v, policy),
        ...(v.action === 'alert' && !v.protection ? [sweep] : []),
        ...(v.action === 'stop'
          ? []
          : [
              'To keep it running past that, use the keep link in the warning email when it comes, or ask your instructor or administrator.',
            ]),
      ].join('\n')
    : [
        ...head,
        `Rules broken (${v.findings.length}):`,
        ...v.findings.map((f) => `- ${f.rule}: ${localizeTimes(f.reason, tz)}`),
        '',
        `What happens: ${localizeTimes(v.outcome, tz)}.`,
        sweep,
        `To keep it running, tag it ${policy.tags.exempt}=true, or ${policy.tags.exempt}=YYYY-MM-DD to snooze until that date.`,
      ].join('\n');
  const rules = v.findings.map((f) => f.rule).join(', ');
  return {
    subject: `cost-watchdog: ${v.instanceType} ${v.instanceId} started (${rules})`,
    text,
    data: {
      kind: 'cost-watchdog/launch',
      ...(v.kind ? { resourceKind: v.kind } : {}),
      instanceId: v.instanceId,
      region: v.region,
      account: v.account,
      instanceType: v.instanceType,
      name: v.name,
      owner: v.owner,
      launchTime: v.launchTime,
      price: v.price,
      rules: v.findings,
      action: v.action,
      protection: v.protection,
      outcome: v.outcome,
      stopAfter: v.stopAfter,
      ...(v.sweepPlan ? { sweepPlan: v.sweepPlan } : {}),
    },
  };
}

/** What the launch guard would have done, in the words of a dry-run alert. */
const WOULD: Record<LaunchVerdict['action'], string> = {
  none: 'nothing',
  alert: 'alert only',
  warn: 'warn',
  stop: 'stop it at once',
};

/**
 * The admin's launch alert under the policy's dryRun: the same facts and broken rules, marked DRY RUN, with what
 * the launch guard would have done (warn, stop at once, clear stop protection) instead of what happens. Owners
 * get nothing in a dry run.
 */
export function renderDryRunLaunchAlert(v: LaunchVerdict, policy: Policy, now: Date): Alert {
  const alert = renderLaunchAlert(v, policy, { now });
  const would = [...(v.clearStopProtection ? ['turn its stop protection off'] : []), WOULD[v.action]].join(
    ', then ',
  );
  const text = alert.text
    .split('\n')
    .map((line) =>
      line.startsWith('What happens: ')
        ? `What would have happened: ${would} (${localizeTimes(v.outcome, policy.timeZone)}). Nothing was done.`
        : line,
    )
    .join('\n');
  return {
    subject: `cost-watchdog DRY RUN: would ${WOULD[v.action]}: ${v.instanceType} ${v.instanceId} started (${v.findings
      .map((f) => f.rule)
      .join(', ')})`,
    text: `${DRY_RUN_BANNER}\n\n${text}`,
    data: { ...(alert.data as Record<string, unknown>), dryRun: true, wouldDo: would },
  };
}
