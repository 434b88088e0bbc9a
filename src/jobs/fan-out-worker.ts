/**
 * The sweep-worker's use case (docs/scale.md, "Fan-out"): one target message of the fan-out in, the same sweep of that
 * account x region as a single invocation does (runSweep with one target, then quiet hours' morning start), its usage
 * for the month ledger, and a compact result out. No alerts and no usage record here: the scheduled sweep's summary
 * sends and records them once for the whole run.
 */
import type { AwsTarget } from '../aws/clients.js';
import type { SweepServices } from '../aws/services.js';
import { describeError } from '../core/errors.js';
import {
  FAN_OUT_VERSION,
  isPassingFailure,
  TARGET_ATTEMPTS,
  type TargetMessage,
  type TargetResult,
} from '../core/fan-out.js';
import type { Instance } from '../core/instance.js';
import type { Policy } from '../core/policy.js';
import type { Prices } from '../core/prices.js';
import { sweepIntervalHours, usageSinceLastSweep } from '../core/usage.js';
import { runMorningStart } from './morning-start.js';
import { runSweep } from './sweep.js';
import { memberRoleFor } from './targets.js';

/** What the worker needs: the policy, the home account, the sweep's services and the bundled prices. */
export interface FanOutWorkerDeps {
  policy: Policy;
  /** The home region (and emulator endpoint); targets without an account are swept here with the function's role. */
  home: AwsTarget;
  /** The stack's own account id (a target naming it is the home account). */
  homeAccount: string;
  services: SweepServices;
  prices: Prices;
}

/** What sweeping one target message gave: a result to send, or a request to try again later. */
export type WorkerOutcome = { result: TargetResult } | { retry: string };

/**
 * Sweeps the target of one message (attempt = the message's receive count) at `now`. A member account's role is
 * assumed first (a failure is the target's failed scope, as in a single invocation). When the whole target failed for
 * a passing reason (throttling, 5xx, a timeout) before the last attempt, nothing was changed and it asks for a retry;
 * otherwise it returns the result, failures included.
 */
export async function sweepTargetMessage(
  deps: FanOutWorkerDeps,
  message: TargetMessage,
  attempt: number,
  now: Date,
): Promise<WorkerOutcome> {
  const { policy, services } = deps;
  const target = await resolveTarget(deps, message);
  const observed: Instance[] = [];
  const report = await runSweep({
    policy,
    now,
    targets: [target],
    services,
    homeRegion: deps.home.region,
    onObserved: (instance) => observed.push(instance),
    ...(message.context ? { context: message.context } : {}),
  });
  const scope = report.scopes[0] ?? { region: target.region, instances: 0, ok: false, error: 'not swept' };
  if (!scope.ok && attempt < TARGET_ATTEMPTS && isPassingFailure(scope.error ?? '')) {
    return { retry: scope.error ?? 'failed' };
  }
  const morning = policy.quietHours.morningStart
    ? await runMorningStart({ policy, now, targets: [target], services, dryRun: report.dryRun })
    : undefined;
  let usage: TargetResult['usage'];
  if (!message.extraRun && !report.dryRun && observed.length > 0) {
    const at = new Date(message.at);
    try {
      const prices = await deps.prices.many(
        observed.map((i) => ({ instanceType: i.instanceType, region: i.region })),
      );
      usage = usageSinceLastSweep(
        observed,
        prices,
        policy.tags.owner,
        sweepIntervalHours(policy.schedule),
        at,
      );
    } catch (err) {
      report.errors.push({ region: target.region, operation: 'prices (usage)', message: describeError(err) });
    }
  }
  return {
    result: {
      v: FAN_OUT_VERSION,
      kind: 'result',
      runId: message.runId,
      at: message.at,
      index: message.index,
      target: message.target,
      attempt,
      dryRun: report.dryRun,
      scope,
      decisions: report.decisions.filter((d) => d.action !== 'none'),
      warned: report.warned,
      stopped: report.stopped,
      cleared: report.cleared,
      postponed: report.postponed,
      errors: [...report.errors, ...(morning?.errors ?? [])],
      ...(usage ? { usage } : {}),
      ...(morning && (morning.report.decisions.length > 0 || morning.report.started.length > 0)
        ? { morningStart: morning.report }
        : {}),
    },
  };
}

/**
 * The AwsTarget of a message: the home account with the function's own role, or a member account with its member
 * role's credentials (assumed now, so that a failure is reported as sts:AssumeRole). An account the policy does not
 * name is never swept.
 */
async function resolveTarget(deps: FanOutWorkerDeps, message: TargetMessage): Promise<AwsTarget> {
  const { region, account } = message.target;
  if (account === undefined || account === deps.homeAccount) return { ...deps.home, region };
  const roleName = memberRoleFor(deps.policy, account);
  if (roleName === undefined) {
    return {
      region,
      account,
      unavailable: {
        operation: 'fan-out',
        message: `account ${account} is not in the policy's accounts and organization is false; not swept`,
      },
    };
  }
  if (!deps.services.accounts) {
    return {
      region,
      account,
      unavailable: { operation: 'sts:AssumeRole', message: 'no STS access configured' },
    };
  }
  const access = deps.services.accounts(deps.home);
  try {
    await access.credentials.forAccount(account, roleName);
  } catch (err) {
    return { region, account, unavailable: { operation: 'sts:AssumeRole', message: describeError(err) } };
  }
  return { ...deps.home, region, account, credentials: access.credentials.provider(account, roleName) };
}
