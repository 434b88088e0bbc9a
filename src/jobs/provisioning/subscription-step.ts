/** The user's email subscription to the alerts about their own instances (SNS filter policy on `owner`). */
import type { ResourceOutcome } from '../../core/provisioning/outcome.js';
import { outcome, type UserStep } from './steps.js';

const PENDING = 'pending: the user must click the confirmation link AWS emails them';

/**
 * Subscribes the email with the owner filter; corrects another owner's filter; leaves the admin's subscription
 * (another kind of filter) alone. Skipped without an alert topic.
 */
export async function ensureSubscription(step: UserStep, email: string): Promise<ResourceOutcome> {
  const subscriptions = step.services.subscriptions;
  if (!subscriptions) {
    return outcome(step, {
      resource: 'subscription',
      name: email,
      status: 'skipped',
      detail: 'no alert topic given',
    });
  }
  const change =
    step.mode === 'apply'
      ? await subscriptions.ensure(email, step.user)
      : (await subscriptions.inspect(email, step.user)).change;
  return outcome(step, {
    resource: 'subscription',
    name: email,
    status: change === 'conflict' ? 'skipped' : change,
    ...(change === 'created' || change === 'pending'
      ? { detail: PENDING }
      : change === 'conflict'
        ? { detail: 'this email is already subscribed with another filter (the admin?); left as is' }
        : {}),
  });
}

/** Removes the user's owner subscription (found by its filter); absent when there is none or it is unconfirmed. */
export async function removeSubscription(step: UserStep): Promise<ResourceOutcome | undefined> {
  const subscriptions = step.services.subscriptions;
  if (!subscriptions) return undefined;
  const found = await subscriptions.ownedBy(step.user);
  if (found && step.mode === 'apply') await subscriptions.unsubscribe(found.arn);
  return outcome(step, {
    resource: 'subscription',
    name: found?.email ?? '-',
    status: found ? 'deleted' : 'absent',
  });
}
