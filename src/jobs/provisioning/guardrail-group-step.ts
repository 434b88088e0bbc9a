import type { NamedPolicy } from '../../aws/provisioning/iam.js';
import {
  GUARDRAIL_POLICY_NAME,
  type Guardrail,
  LAUNCH_LIMITS_POLICY_NAME,
} from '../../core/provisioning/guardrail.js';
import { type ResourceOutcome, type StepMode, verb } from '../../core/provisioning/outcome.js';
import { NAMES } from '../../core/policy.js';
import { outcome } from './steps.js';
import type { ProvisionServices } from './services.js';

/** `arn:<partition>:iam::<account>:` of an IAM ARN, or undefined when it is not one. */
function iamArnPrefix(arn: string | undefined): string | undefined {
  const [, partition, , , account] = (arn ?? '').split(':');
  return partition && account ? `arn:${partition}:iam::${account}:` : undefined;
}

/**
 * The users group (path /cost-watchdog/) with the guardrail: the inline policy, and the launch limits as a customer
 * managed policy under the same path (a new default version when it differs) attached to the group. `summary`
 * describes what the guardrail allows. A group of the same name outside the path is refused.
 */
export async function ensureGuardrailGroup(
  services: Pick<ProvisionServices, 'iam' | 'account'>,
  guardrail: Guardrail,
  mode: StepMode,
  summary: string,
): Promise<ResourceOutcome> {
  const { iam } = services;
  const name = NAMES.usersGroup;
  const path = NAMES.iamPath;
  const step = { mode };
  const notes: string[] = [];
  const found = await iam.findGroup(name);
  if (found && found.path !== path) {
    throw new Error(
      `IAM group ${name} exists with path ${found.path}, not ${path}; it is not ours, rename it`,
    );
  }
  let groupArn = found?.arn;
  if (!found && mode === 'apply') groupArn = await iam.createGroup(name, path);

  const inline = found ? await iam.groupPolicy(name, GUARDRAIL_POLICY_NAME) : undefined;
  if (JSON.stringify(inline) !== JSON.stringify(guardrail.inline)) {
    if (mode === 'apply') await iam.putGroupPolicy(name, GUARDRAIL_POLICY_NAME, guardrail.inline);
    if (found) notes.push(`${verb(mode, 'rewrote', 'rewrite')} the inline policy ${GUARDRAIL_POLICY_NAME}`);
  }

  // The managed policy's ARN follows from the group's (same account). A dry run for an account without the
  // group asks STS who it is, to see whether the policy is left over from an earlier set-up.
  let prefix = iamArnPrefix(groupArn);
  if (prefix === undefined && mode === 'plan' && services.account) {
    const me = await services.account.whoAmI();
    prefix = `arn:${me.partition}:iam::${me.accountId}:`;
  }
  if (prefix === undefined && mode === 'apply') throw new Error(`IAM returned no ARN for group ${name}`);
  const attached = found && prefix !== undefined ? await iam.attachedPolicyArns(name, path) : [];
  const managed: NamedPolicy[] = [{ name: LAUNCH_LIMITS_POLICY_NAME, document: guardrail.launchLimits }];
  for (const policy of managed) {
    const policyArn = prefix === undefined ? undefined : `${prefix}policy${path}${policy.name}`;
    const state = policyArn === undefined ? { exists: false as const } : await iam.managedPolicy(policyArn);
    if (!state.exists) {
      if (mode === 'apply')
        await iam.createManagedPolicy(
          policy,
          path,
          `cost-watchdog guardrail of group ${name}; written by provision`,
        );
      notes.push(`${verb(mode, 'created', 'create')} the managed policy ${policy.name}`);
    } else if (JSON.stringify(state.document) !== JSON.stringify(policy.document)) {
      if (mode === 'apply' && policyArn !== undefined)
        await iam.setManagedPolicyDocument(policyArn, policy.document);
      notes.push(`${verb(mode, 'wrote', 'write')} a new default version of ${policy.name}`);
    }
    if (policyArn === undefined || !attached.includes(policyArn)) {
      if (mode === 'apply' && policyArn !== undefined) await iam.attachGroupPolicy(name, policyArn);
      if (found) notes.push(`${verb(mode, 'attached', 'attach')} ${policy.name} to the group`);
    }
  }
  const status = !found ? 'created' : notes.length > 0 ? 'updated' : 'unchanged';
  return outcome(step, {
    resource: 'group',
    name,
    status,
    detail: notes.length > 0 && found ? `${summary}; ${notes.join('; ')}` : summary,
  });
}
