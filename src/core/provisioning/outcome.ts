/**
 * What provisioning did, or would do, to one resource: the vocabulary shared by provision, deprovision and their
 * dry runs (`--dry-run`, handler `"dryRun": true`). A dry run reports the same statuses as a real run, each
 * marked `planned`, and changes nothing.
 */

/** `apply` changes the account; `plan` only reads it and says what apply would do. */
export type StepMode = 'apply' | 'plan';

/** The resources of a user's baseline, in the order provision creates them. */
export type ResourceKind =
  | 'group'
  | 'user'
  | 'group-membership'
  | 'console-password'
  | 'access-key'
  | 'key-pair'
  | 'default-vpc'
  | 'security-group'
  | 'launch-template'
  | 'subscription'
  | 'instances';

/**
 * What happened to a resource:
 * - created: it was missing and is there now;
 * - updated: it differed from what provision writes now (new AMI, new guardrail, other setup) and was brought
 *   up to date; for a user's running instances: deprovision stopped them (never terminated);
 * - repaired: someone changed it by hand (a rule opened to the world, a lost owner tag, a private key missing from
 *   SSM) and it was put right;
 * - unchanged: nothing to do;
 * - pending: the email subscription waits for its owner to confirm it;
 * - deleted: removed by deprovision;
 * - kept: found but left in place (not ours, still in use, running instances);
 * - absent: nothing to remove;
 * - skipped: not done in this run (IAM turned off or denied, no alert topic), with the reason.
 */
export type OutcomeStatus =
  | 'created'
  | 'updated'
  | 'repaired'
  | 'unchanged'
  | 'pending'
  | 'deleted'
  | 'kept'
  | 'absent'
  | 'skipped';

/** What happened to one resource (never a secret). `planned`: a dry run, so it only would happen. */
export interface ResourceOutcome {
  resource: ResourceKind;
  name: string;
  status: OutcomeStatus;
  id?: string;
  detail?: string;
  planned?: true;
}

const WOULD: Record<OutcomeStatus, string> = {
  created: 'would create',
  updated: 'would update',
  repaired: 'would repair',
  unchanged: 'unchanged',
  pending: 'pending',
  deleted: 'would delete',
  kept: 'would keep',
  absent: 'absent',
  skipped: 'skipped',
};

/** The status as a person reads it: `created`, or `would create` in a dry run. */
export function outcomeLabel(outcome: Pick<ResourceOutcome, 'status' | 'planned'>): string {
  return outcome.planned ? WOULD[outcome.status] : outcome.status;
}

/** Past tense in a real run, the plain verb in a dry run: `revoked` / `revoke`. */
export function verb(mode: StepMode, past: string, plain: string): string {
  return mode === 'apply' ? past : plain;
}
