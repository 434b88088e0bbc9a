/**
 * What every ensure-step of a user's baseline gets: the mode (apply, or plan for a dry run), the user, the
 * region's adapters and the policy. Each step reads what is there, decides, writes only in `apply`, and returns
 * one ResourceOutcome (marked `planned` in `plan`). Steps live one resource per file beside this one; provision
 * and deprovision are sequences of them.
 */
import type { ProvisionEc2 } from '../../aws/provisioning/provision-ec2.js';
import type { ParameterStore } from '../../aws/provisioning/ssm.js';
import { printable } from '../../core/errors.js';
import type { ResourceOutcome, StepMode } from '../../core/provisioning/outcome.js';
import { verb } from '../../core/provisioning/outcome.js';
import { TAGS } from '../../core/policy.js';
import type { ProvisionServices } from './services.js';

/** The context of one user's steps. */
export interface UserStep {
  mode: StepMode;
  user: string;
  region: string;
  services: ProvisionServices;
  ec2: ProvisionEc2;
  ssm: ParameterStore;
  /** The policy's owner tag key (default `Owner`). */
  ownerTag: string;
}

/** Builds the context of one user's steps in `region`. */
export function userStep(
  mode: StepMode,
  user: string,
  region: string,
  services: ProvisionServices,
  ownerTag: string,
): UserStep {
  return { mode, user, region, services, ec2: services.ec2(region), ssm: services.ssm(region), ownerTag };
}

/** An outcome of `step`, marked planned in a dry run. */
export function outcome(step: { mode: StepMode }, o: ResourceOutcome): ResourceOutcome {
  return step.mode === 'plan' ? { ...o, planned: true } : o;
}

/** Tags of everything provision creates for a user: managed, and owned by the user. */
export function ownTags(step: UserStep): Record<string, string> {
  return { [TAGS.managed]: 'true', [step.ownerTag]: step.user };
}

/**
 * The guardrail lets a student launch only with the key pair, security group and launch template tagged with
 * their name: puts the tag back where it went missing (or names someone else). Returns what was (or would be)
 * done, or undefined when the tag is right.
 */
export async function repairOwnerTag(
  step: UserStep,
  resourceId: string,
  tags: Record<string, string>,
): Promise<string | undefined> {
  const current = tags[step.ownerTag];
  if (current === step.user) return undefined;
  if (step.mode === 'apply') await step.ec2.tag(resourceId, { [step.ownerTag]: step.user });
  return `${verb(step.mode, 'tagged', 'tag')} ${step.ownerTag}=${step.user} (was ${current === undefined ? 'missing' : `"${printable(current)}"`})`;
}
