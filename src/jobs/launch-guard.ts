import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsTarget } from '../aws/clients.js';
import type { CostServices } from '../aws/cost-services.js';
import type { ProvisionedUserList } from '../aws/provisioned-users.js';
import { describeError, shortError } from '../core/errors.js';
import {
  checkLaunch,
  type LaunchContext,
  type LaunchVerdict,
  renderDryRunLaunchAlert,
  renderLaunchAlert,
} from '../core/launch-check.js';
import type { ResourceKind } from '../core/instance.js';
import { KIND_NAMES, kindEnabled, kindTypeInfo, policyForKind } from '../core/kinds.js';
import type { Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import type { Alert } from '../core/report.js';
import type { AlertSink, FleetPort } from '../core/ports.js';
import { eventForLog, readStateChange } from '../core/launch-event.js';
import { stopResources, writeWarnings } from './enforce.js';
import { memberRoleFor } from './targets.js';

/** What one launch-guard run did (also the handler's answer and log line). */
export interface LaunchGuardResult {
  status: 'ignored' | 'compliant' | 'alerted' | 'warned' | 'stopped' | 'dry-run' | 'error';
  instanceId?: string;
  reason?: string;
  verdict?: Pick<LaunchVerdict, 'instanceType' | 'findings' | 'action' | 'outcome' | 'protection'> & {
    usdPerHour: number | null;
    priceSource: string;
    stopProtectionCleared?: boolean;
  };
}

/** Inputs of one launch check. `now` is injected. */
export interface LaunchGuardOptions {
  instanceId: string;
  /** A notebook or database that started; absent = an EC2 instance. */
  resource?: Exclude<ResourceKind, 'ec2'>;
  target: AwsTarget;
  policy: Policy;
  services: CostServices;
  /** The provisioned users (members of the users group); only asked when the instance has an owner. */
  provisionedUsers: () => Promise<ProvisionedUserList>;
  publish: (alert: Alert) => Promise<unknown>;
  now: Date;
  log: Logger;
}

/**
 * The launch guard's use case for one just-started instance: reads it (type facts, security groups, stop
 * protection, whether its owner is a provisioned user, price), decides with checkLaunch(), then acts as decided:
 * turns stop protection off (policy stopProtection: clear), writes the warning tag (nonFreeTier.action: stop) or
 * stops it (launchGuard.immediate), and sends the alert to the admin and the owner. The policy's dry run acts on
 * nothing and sends the admin alone a DRY RUN alert of what it would have done. AWS failures of the lookups are logged and judged as "unknown", never as "fine".
 */
export async function guardLaunch(options: LaunchGuardOptions): Promise<LaunchGuardResult> {
  if (options.resource) return guardKindStart({ ...options, resource: options.resource });
  const { instanceId, target, policy, services, now, log } = options;
  const ec2 = services.ec2(target);
  const instance = await ec2.getRunning(instanceId);
  if (!instance) return { status: 'ignored', instanceId, reason: 'no longer running' };

  const warn = (what: string) => (err: unknown) => {
    log({ level: 'warn', message: `launch-guard: ${what} failed: ${describeError(err)}`, instanceId });
  };
  const [types, groups, stopProtected] = await Promise.all([
    ec2.describeTypes([instance.instanceType]).catch((err: unknown) => {
      warn('DescribeInstanceTypes')(err);
      return new Map();
    }),
    services
      .costs(target)
      .securityGroupRules(instance.securityGroupIds ?? [])
      .catch((err: unknown) => {
        warn('DescribeSecurityGroups')(err);
        return [];
      }),
    ec2.isStopProtected(instanceId).catch((err: unknown) => {
      warn('DescribeInstanceAttribute (stop protection)')(err);
      return undefined;
    }),
  ]);
  const info = types.get(instance.instanceType);
  if (info) instance.typeInfo = info;
  if (stopProtected !== undefined) instance.stopProtected = stopProtected;
  const context = await launchContext(instance.tags[policy.tags.owner], options);
  const price = await services.prices.hourly(instance.instanceType, instance.region);
  if (services.prices.apiError !== undefined) {
    // The alert says "price list unavailable, table price used"; the log keeps why.
    log({
      level: 'warn',
      message: `launch-guard: Price List API unavailable: ${services.prices.apiError}`,
      instanceId,
    });
  }
  let verdict = checkLaunch(instance, groups, price, policy, now, context);

  const summary = (s: LaunchGuardResult['status']) => resultOf(s, verdict);
  if (verdict.action === 'none') return summary('compliant');
  if (policy.dryRun) {
    await options.publish(renderDryRunLaunchAlert(verdict, policy, now));
    return summary('dry-run');
  }

  if (verdict.clearStopProtection) {
    try {
      await ec2.clearStopProtection(instanceId);
    } catch (err) {
      // Judged again as the instance is: stop-protected, so only reported.
      const failed = `turning stop protection off failed (${shortError(describeError(err))}); it stays on`;
      verdict = checkLaunch(instance, groups, price, { ...policy, stopProtection: 'alert' }, now, context);
      verdict = { ...verdict, outcome: `${failed}; ${verdict.outcome}` };
    }
  }
  const protectedNow = verdict.clearStopProtection ? false : instance.stopProtected;
  if (verdict.action === 'stop') {
    // Stop protection unknown (the lookup failed) is never taken as "off".
    if (protectedNow !== false) {
      verdict = {
        ...verdict,
        action: 'alert',
        outcome:
          protectedNow === true
            ? 'never stopped by the watchdog: stop protection is on'
            : 'not stopped: stop protection could not be checked; the next sweep decides',
      };
    }
  }
  const done = await enforceLaunch(verdict, ec2, instance.hibernationConfigured === true, options);
  verdict = done.verdict;
  return summary(done.status);
}

/** What a launch check answers and logs: its status and the verdict's gist. */
function resultOf(status: LaunchGuardResult['status'], verdict: LaunchVerdict): LaunchGuardResult {
  return {
    status,
    instanceId: verdict.instanceId,
    verdict: {
      instanceType: verdict.instanceType,
      findings: verdict.findings,
      action: verdict.action,
      outcome: verdict.outcome,
      protection: verdict.protection,
      usdPerHour: verdict.price.usdPerHour,
      priceSource: verdict.price.source,
      ...(verdict.clearStopProtection ? { stopProtectionCleared: true } : {}),
    },
  };
}

/**
 * Acts on a launch verdict, the same for every kind: stops the resource (action stop) or writes the warning tag
 * (action warn), turning the verdict into an alert that says so when that fails, then sends the alert to the
 * admin and, when it has an owner, the owner's.
 */
async function enforceLaunch(
  decided: LaunchVerdict,
  fleet: FleetPort,
  hibernate: boolean,
  options: Pick<LaunchGuardOptions, 'instanceId' | 'policy' | 'now' | 'publish'>,
): Promise<{ verdict: LaunchVerdict; status: LaunchGuardResult['status'] }> {
  const { instanceId, now } = options;
  let verdict = decided;
  let status: LaunchGuardResult['status'] = 'alerted';
  if (verdict.action === 'stop') {
    const reason = `launch-guard: ${verdict.findings.map((f) => f.reason).join('; ')} (launchGuard.immediate)`;
    const stop = await stopResources(fleet, [{ instanceId, hibernate, reason }], { by: 'launch-guard', now });
    if (stop.stopped.includes(instanceId)) {
      status = 'stopped';
      // Stopped, but its record (why, by whom) or the warning's removal failed: the alert says so.
      const after = stop.errors.filter((e) => e.operation !== 'StopInstances');
      if (after.length > 0) {
        verdict = {
          ...verdict,
          outcome: `${verdict.outcome}; ${after.map((e) => `${e.operation} failed (${shortError(e.message)})`).join('; ')}`,
        };
      }
    } else {
      const error = stop.errors.find((e) => e.operation === 'StopInstances')?.message;
      verdict = {
        ...verdict,
        action: 'alert',
        outcome: error
          ? `the stop failed (${shortError(error)}); the next sweep tries again`
          : 'it was already stopped by someone else',
      };
    }
  } else if (verdict.action === 'warn') {
    const warned = await writeWarnings(fleet, [{ instanceId, rule: 'non-free-tier' }], now);
    if (warned.warned.includes(instanceId)) status = 'warned';
    else
      verdict = {
        ...verdict,
        action: 'alert',
        outcome: `the warning tag could not be written (${shortError(warned.errors[0]?.message ?? '')}); the next sweep warns`,
      };
  }
  await options.publish(renderLaunchAlert(verdict, options.policy, { now }));
  if (verdict.owner) {
    const forOwner = renderLaunchAlert(verdict, options.policy, { audience: 'owner', now });
    await options.publish({ ...forOwner, owner: verdict.owner });
  }
  return { verdict, status };
}

/**
 * The launch guard for a notebook or database that started: the same verdict as for an EC2 launch (free tier from
 * the kind's policy lists, owner tag, opted out), with the kind's policy; no security groups or stop protection to
 * read. Warns (nonFreeTier.action: stop) or stops at once (launchGuard.immediate) like an EC2 launch.
 */
async function guardKindStart(
  options: LaunchGuardOptions & { resource: Exclude<ResourceKind, 'ec2'> },
): Promise<LaunchGuardResult> {
  const { instanceId, target, services, now, resource } = options;
  const fleet = services.fleet?.(target, resource);
  if (!fleet)
    return { status: 'ignored', instanceId, reason: `${KIND_NAMES[resource]}s are not watched here` };
  if (!kindEnabled(options.policy, resource)) {
    return {
      status: 'ignored',
      instanceId,
      reason: `${KIND_NAMES[resource]}s are switched off in the policy`,
    };
  }
  const policy = policyForKind(options.policy, resource);
  const instance = await fleet.getRunning(instanceId);
  if (!instance) return { status: 'ignored', instanceId, reason: 'no longer running' };
  const typeInfo = kindTypeInfo(instance, options.policy, undefined);
  if (typeInfo) instance.typeInfo = typeInfo;
  instance.stopProtected = false;
  const context = await launchContext(instance.tags[policy.tags.owner], options);
  const price = await services.prices.hourly(instance.instanceType, instance.region);
  let verdict = checkLaunch(instance, [], price, policy, now, context);
  const summary = (s: LaunchGuardResult['status']) => resultOf(s, verdict);
  if (verdict.action === 'none') return summary('compliant');
  if (policy.dryRun) {
    await options.publish(renderDryRunLaunchAlert(verdict, policy, now));
    return summary('dry-run');
  }
  const done = await enforceLaunch(verdict, fleet, false, { ...options, policy });
  verdict = done.verdict;
  return summary(done.status);
}

/** Whether the owner is a provisioned user; IAM is only asked when the instance has an owner. */
async function launchContext(owner: string | undefined, options: LaunchGuardOptions): Promise<LaunchContext> {
  if (owner === undefined || owner.trim() === '') return { ownerProvisioned: false };
  const list = await options.provisionedUsers();
  if (list.names !== null) return { ownerProvisioned: list.names.has(owner.trim()) };
  options.log({
    level: 'warn',
    message: `launch-guard: provisioned users unknown (${list.why}); ${owner} is treated as one`,
  });
  return { ownerProvisioned: 'unknown' };
}

/** What answering one EventBridge event needs (built once per container by the handler). */
export interface StateChangeDeps {
  policy: Policy;
  home: AwsTarget;
  /** The stack's own account: an event of another account (forwarded, resources/forwarder.yml) is a member's. */
  homeAccount?: string;
  /** Credentials of a member account's role (STS AssumeRole), for launches in member accounts. */
  memberCredentials?: (account: string, roleName: string) => AwsCredentialIdentityProvider;
  services: CostServices;
  provisionedUsers: () => Promise<ProvisionedUserList>;
  alerts: AlertSink;
  log: Logger;
}

/**
 * The launch guard's answer to one event: reads it (anything but an instance entering `running` is ignored with
 * a reason), checks the instance with guardLaunch() in the event's region, and logs the result. Malformed events
 * and AWS failures are answered with a status, never thrown, so EventBridge's retries never repeat an alert or loop
 * on an event that can never succeed.
 */
export async function answerStateChange(
  event: unknown,
  deps: StateChangeDeps,
  now: Date,
): Promise<LaunchGuardResult> {
  const { log, policy } = deps;
  const change = readStateChange(event);
  if (change.kind === 'ignored') {
    if (change.malformed) {
      log({
        level: 'warn',
        message: `launch-guard: ignored event (${change.reason})`,
        event: eventForLog(event),
      });
    } else {
      log({ level: 'info', message: `launch-guard: ignored ${change.instanceId} ${change.reason}` });
    }
    return {
      status: 'ignored',
      ...(change.instanceId ? { instanceId: change.instanceId } : {}),
      reason: change.reason,
    };
  }
  const { instanceId } = change;
  if (!policy.launchGuard.enabled) {
    return { status: 'ignored', instanceId, reason: 'launchGuard.enabled is false' };
  }
  // A launch in a member account (its event forwarded to this account's bus) is checked with that account's member
  // role; an account the policy does not sweep is none of this watchdog's business.
  let target: AwsTarget = { ...deps.home, region: change.region };
  if (change.account && deps.homeAccount && change.account !== deps.homeAccount) {
    const roleName = memberRoleFor(policy, change.account);
    if (roleName === undefined || !deps.memberCredentials) {
      const reason = `account ${change.account} is not one this watchdog sweeps (policy accounts / organization)`;
      log({ level: 'info', message: `launch-guard: ignored ${instanceId}: ${reason}` });
      return { status: 'ignored', instanceId, reason };
    }
    target = {
      ...target,
      account: change.account,
      credentials: deps.memberCredentials(change.account, roleName),
    };
  }
  try {
    const result = await guardLaunch({
      instanceId,
      ...(change.resource ? { resource: change.resource } : {}),
      target,
      policy,
      services: deps.services,
      provisionedUsers: deps.provisionedUsers,
      publish: (a) => deps.alerts.publish(a),
      now,
      log,
    });
    log({ level: 'info', message: `launch-guard: ${instanceId} ${result.status}`, result });
    return result;
  } catch (err) {
    const reason = describeError(err);
    log({
      level: 'error',
      message: `launch-guard: ${instanceId} could not be checked: ${reason}`,
      instanceId,
    });
    return { status: 'error', instanceId, reason };
  }
}
