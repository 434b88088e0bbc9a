/**
 * The launch guard's decision: which rules a just-started instance breaks (not free tier and not allowed,
 * no owner tag, a security group open to the world) and what follows from the policy: an alert, a warning
 * that lets the next sweep stop it after the grace period, or (launchGuard.immediate) a stop at once. Pure.
 */
import { findProtection, forgeableManagedTags, type Protection } from './evaluate.js';
import { type Instance, type InstanceRef, instanceRef } from './instance.js';
import type { Policy } from './policy.js';
import { type HourlyPrice, sourceLabel } from './prices.js';
import type { Alert } from './report.js';

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
  /** What happens next, in words. */
  outcome: string;
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
  const eligible = instance.typeInfo?.freeTierEligible;
  const allowed = policy.nonFreeTier.allowedTypes.includes(instance.instanceType);
  if (eligible === false && !allowed) {
    findings.push({
      rule: 'non-free-tier',
      reason: `${instance.instanceType} is not free-tier eligible in ${instance.region} for this account and not in nonFreeTier.allowedTypes`,
    });
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
    return { ...base, action: 'alert', outcome: `${cleared}${alertOnlyOutcome(protection?.reason)}` };
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

/** What the sweep does next with an instance the launch guard only alerts on. */
function alertOnlyOutcome(protectionReason: string | undefined): string {
  if (protectionReason !== undefined) {
    return `reported only: the watchdog never stops it while it is ${protectionReason}`;
  }
  return 'alert only now; the hourly sweep still warns it and stops it after the grace period when it is idle or runs past its uptime limit';
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

/** Formats an hourly price with its source: "$0.0832/h (estimate, table)". */
export function formatHourly(price: HourlyPrice): string {
  if (price.usdPerHour === null) return 'price unknown (not in the Price List API or the bundled table)';
  return `$${price.usdPerHour.toFixed(4)}/h, about $${(price.usdPerHour * 24).toFixed(2)}/day (estimate, ${sourceLabel(price.source)})`;
}

/** The launch alert: instance, type, hourly price and every broken rule, as text and as JSON. */
export function renderLaunchAlert(v: LaunchVerdict, policy: Policy): Alert {
  const who = [v.name, v.owner ? `owner ${v.owner}` : undefined].filter(Boolean).join(', ');
  const text = [
    `Instance ${v.instanceId}${who ? ` (${who})` : ''} started in ${v.region} at ${v.launchTime}.`,
    '',
    `Type:   ${v.instanceType}`,
    `Price:  ${formatHourly(v.price)}`,
    ...(v.price.note ? [`        ${v.price.note}`] : []),
    '',
    `Rules broken (${v.findings.length}):`,
    ...v.findings.map((f) => `- ${f.rule}: ${f.reason}`),
    '',
    `What happens: ${v.outcome}.`,
    `To keep it running, tag it ${policy.tags.exempt}=true, or ${policy.tags.exempt}=YYYY-MM-DD to snooze until that date.`,
  ].join('\n');
  const rules = v.findings.map((f) => f.rule).join(', ');
  return {
    subject: `cost-watchdog: ${v.instanceType} ${v.instanceId} started (${rules})`,
    text,
    data: {
      kind: 'cost-watchdog/launch',
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
    },
  };
}
