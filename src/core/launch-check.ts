/**
 * The launch guard's decision: which rules a just-started instance breaks (not free tier and not allowed,
 * no owner tag, a security group open to the world) and what follows from the policy: an alert, a warning
 * that lets the next sweep stop it after the grace period, or (launchGuard.immediate) a stop at once. Pure.
 */
import { findProtection, type Protection } from './evaluate.js';
import { type Instance, type InstanceRef, instanceRef } from './instance.js';
import type { Policy } from './policy.js';
import { type HourlyPrice, sourceLabel } from './prices.js';
import type { Alert } from './report.js';

/** A rule a launch can break. */
export type LaunchRule = 'non-free-tier' | 'missing-owner' | 'open-to-world';

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
 * (exempt, snoozed, Auto Scaling, spot, ...) are never stopped, only alerted on.
 */
export function checkLaunch(
  instance: Instance,
  groups: readonly SecurityGroupRules[],
  price: HourlyPrice,
  policy: Policy,
  now: Date,
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
  const owner = instance.tags[policy.tags.owner];
  if (owner === undefined || owner.trim() === '') {
    findings.push({
      rule: 'missing-owner',
      reason: `no ${policy.tags.owner} tag: nobody gets this instance's alerts`,
    });
  }
  const open = openToWorld(groups);
  if (open.length > 0) {
    findings.push({ rule: 'open-to-world', reason: `security group open to the world: ${open.join('; ')}` });
  }

  const protection = findProtection(instance, policy, now.getTime());
  const base = {
    ...instanceRef(instance, policy.tags.owner),
    launchTime: instance.launchTime,
    price,
    findings,
    protection: protection?.kind ?? null,
  };
  if (findings.length === 0) return { ...base, action: 'none', outcome: 'no rule broken' };

  const stoppable = findings.some((f) => f.rule === 'non-free-tier') && policy.nonFreeTier.action === 'stop';
  if (!stoppable) {
    return {
      ...base,
      action: 'alert',
      outcome: 'alert only: the watchdog does not stop instances for these rules',
    };
  }
  if (protection) {
    return { ...base, action: 'alert', outcome: `never stopped by the watchdog: ${protection.reason}` };
  }
  if (policy.launchGuard.immediate) {
    return {
      ...base,
      action: 'stop',
      outcome:
        'stopped at once (launchGuard.immediate: true with nonFreeTier.action: stop); nothing was deleted',
    };
  }
  const stopAfter = new Date(now.getTime() + policy.graceMinutes * 60_000).toISOString();
  return {
    ...base,
    action: 'warn',
    stopAfter,
    outcome: `warned: the next sweep after ${stopAfter} stops it (grace ${policy.graceMinutes} min) unless it is tagged ${policy.tags.exempt}`,
  };
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
