/**
 * deprovision: removes a user's baseline with the same steps provision uses, in reverse order, for real or as a
 * dry run. Running instances are stopped (never terminated) through enforce's stopResources, which records on each
 * instance when, why and that deprovision stopped it.
 */
import { IamAccessDeniedError } from '../../aws/provisioning/iam.js';
import type { OwnedInstance } from '../../aws/provisioning/provision-ec2.js';
import { describeError } from '../../core/errors.js';
import type { ResourceOutcome } from '../../core/provisioning/outcome.js';
import type { Policy } from '../../core/policy.js';
import { parseUserName } from '../../core/provisioning/roster.js';
import { stopResources } from '../enforce.js';
import { removeUser } from './iam-user-steps.js';
import { removeKeyPair, removeSecrets } from './key-pair-step.js';
import { removeLaunchTemplate } from './launch-template-step.js';
import { removeSecurityGroup } from './network-steps.js';
import { IAM_OFF_REASON, iamDeniedReason } from './provision.js';
import type { ProvisionServices } from './services.js';
import { outcome, type UserStep, userStep } from './steps.js';
import { removeSubscription } from './subscription-step.js';

/** Result of removing one user's baseline. */
export interface DeprovisionResult {
  user: string;
  region: string;
  /** removed: everything gone; partial: something kept (see resources); refused: running instances. */
  status: 'removed' | 'partial' | 'refused' | 'failed';
  resources: ResourceOutcome[];
  /** A dry run: nothing was changed; the statuses say what a real run would do. */
  dryRun?: true;
  error?: string;
}

/** Options of deprovision. */
export interface DeprovisionOptions {
  services: ProvisionServices;
  policy: Policy;
  region: string;
  /** Stop the user's running instances first (never terminate); otherwise running instances refuse the run. */
  stopInstances?: boolean;
  /** Leave IAM alone (lab accounts): the IAM user is not looked up or deleted. */
  skipIam?: boolean;
  /** Change nothing: report what a real run would do (every outcome `planned`). */
  dryRun?: boolean;
  /** The time the stop is recorded with (default: now). */
  now?: Date;
}

/** Why deprovision stops an instance (its stop-reason tag). */
export function deprovisionReason(user: string): string {
  return `deprovision: the set-up of ${user} was removed by the instructor`;
}

/**
 * Stops the user's running instances (refused without `stopInstances`). Returns the outcome, or a result status
 * and error that end the run.
 */
async function stopRunning(
  step: UserStep,
  instances: OwnedInstance[],
  options: DeprovisionOptions,
): Promise<{ outcome?: ResourceOutcome; end?: { status: DeprovisionResult['status']; error: string } }> {
  const active = instances.filter((i) => i.state === 'running' || i.state === 'pending');
  if (active.length === 0) return {};
  const ids = active.map((i) => i.instanceId);
  if (!options.stopInstances) {
    return {
      outcome: outcome(step, {
        resource: 'instances',
        name: ids.join(' '),
        status: 'kept',
        detail: 'running',
      }),
      end: {
        status: 'refused',
        error: `${step.user} has ${ids.length} running instance(s) (${ids.join(', ')}); stop them first or run again with --stop-instances (they are stopped, never terminated)`,
      },
    };
  }
  if (step.mode === 'apply') {
    const stopped = await stopResources(
      step.ec2.fleet(),
      active.map((i) => ({
        instanceId: i.instanceId,
        hibernate: i.hibernate,
        reason: deprovisionReason(step.user),
      })),
      { by: 'deprovision', now: options.now ?? new Date() },
    );
    const failed = stopped.errors.filter((e) => e.operation === 'StopInstances');
    if (failed.length > 0) {
      return {
        end: {
          status: 'failed',
          error: `could not stop ${failed.map((f) => `${f.instanceId}: ${f.message}`).join('; ')}`,
        },
      };
    }
    // Stopped; recording why on the instance is second to that, and said when it failed.
    const unrecorded = stopped.errors.map((e) => `${e.instanceId ?? ''} ${e.operation}: ${e.message}`.trim());
    return {
      outcome: {
        resource: 'instances',
        name: ids.join(' '),
        status: 'updated',
        detail: `stopped (not terminated)${unrecorded.length > 0 ? `; could not record why: ${unrecorded.join('; ')}` : ''}`,
      },
    };
  }
  return {
    outcome: outcome(step, {
      resource: 'instances',
      name: ids.join(' '),
      status: 'updated',
      detail: 'stop them (never terminate)',
    }),
  };
}

/**
 * Removes what provision created for `user`, in reverse order: subscription, launch template, security
 * group, key pair and its SSM parameter, console password, access keys, the IAM user. Refuses while the user has
 * running instances unless `stopInstances` (which stops them; nothing is ever terminated). Deletes only
 * resources with the managed tag or the `/cost-watchdog/` path; the group stays for the others.
 */
export async function deprovisionUser(
  userName: string,
  options: DeprovisionOptions,
): Promise<DeprovisionResult> {
  const user = parseUserName(userName);
  const { services, policy, region } = options;
  const step = userStep(options.dryRun ? 'plan' : 'apply', user, region, services, policy.tags.owner);
  const resources: ResourceOutcome[] = [];
  const done = (status: DeprovisionResult['status'], error?: string): DeprovisionResult => ({
    user,
    region,
    status,
    resources,
    ...(options.dryRun ? { dryRun: true as const } : {}),
    ...(error ? { error } : {}),
  });
  try {
    const instances = await step.ec2.instancesOwnedBy(policy.tags.owner, user);
    const stop = await stopRunning(step, instances, options);
    if (stop.outcome) resources.push(stop.outcome);
    if (stop.end) return done(stop.end.status, stop.end.error);

    const subscription = await removeSubscription(step);
    if (subscription) resources.push(subscription);
    resources.push(await removeLaunchTemplate(step));
    resources.push(await removeSecurityGroup(step, instances));
    resources.push(await removeKeyPair(step));
    resources.push(...(await removeSecrets(step)));

    if (options.skipIam) {
      resources.push(
        outcome(step, { resource: 'user', name: user, status: 'skipped', detail: IAM_OFF_REASON }),
      );
    } else {
      try {
        resources.push(await removeUser(step));
      } catch (err) {
        if (!(err instanceof IamAccessDeniedError)) throw err;
        resources.push(
          outcome(step, { resource: 'user', name: user, status: 'skipped', detail: iamDeniedReason(err) }),
        );
      }
    }
    return done(resources.some((r) => r.status === 'kept') ? 'partial' : 'removed');
  } catch (err) {
    return done('failed', describeError(err));
  }
}
