/** The network part of a user's baseline: the region's default VPC and the user's security group in it. */
import { describeRule, type IngressRule } from '../../aws/provisioning/provision-ec2.js';
import { InputError } from '../../core/errors.js';
import { type ResourceOutcome, verb } from '../../core/provisioning/outcome.js';
import { TAGS } from '../../core/policy.js';
import { isWorldOpen, resourceName, type UserRequest } from '../../core/provisioning/roster.js';
import { outcome, ownTags, repairOwnerTag, type UserStep } from './steps.js';

/** The ingress rules a user's security group must have: SSH (and the notebook port) from their CIDR. */
export function wantedIngress(request: UserRequest): IngressRule[] {
  const source = request.cidr.includes(':') ? { cidrIpv6: request.cidr } : { cidr: request.cidr };
  const ports = [22, ...(request.notebookPort !== undefined ? [request.notebookPort] : [])];
  return ports.map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, ...source }));
}

/** The region's default VPC, created when the region has none. `vpcId` is undefined in a dry run that would create it. */
export async function ensureDefaultVpc(
  step: UserStep,
): Promise<{ outcome: ResourceOutcome; vpcId?: string }> {
  const found = await step.ec2.findDefaultVpc();
  if (found) {
    return {
      outcome: outcome(step, { resource: 'default-vpc', name: found, id: found, status: 'unchanged' }),
      vpcId: found,
    };
  }
  if (step.mode === 'plan') {
    return { outcome: outcome(step, { resource: 'default-vpc', name: '(default VPC)', status: 'created' }) };
  }
  const vpcId = await step.ec2.createDefaultVpc();
  return { outcome: { resource: 'default-vpc', name: vpcId, id: vpcId, status: 'created' }, vpcId };
}

/**
 * The security group `cost-watchdog-<user>` in the default VPC with exactly the wanted ingress: rules someone
 * added are revoked (saying when one was open to the whole internet), missing ones added, a lost owner tag put
 * back. A group of that name without the managed tag is not ours and fails the user. `groupId` is undefined in a
 * dry run that would create the group.
 */
export async function ensureSecurityGroup(
  step: UserStep,
  request: UserRequest,
  vpcId: string | undefined,
): Promise<{ outcome: ResourceOutcome; groupId?: string }> {
  const name = resourceName(step.user);
  const wanted = wantedIngress(request);
  const description = `SSH for ${step.user} (cost-watchdog)`;
  const group = vpcId === undefined ? undefined : await step.ec2.findSecurityGroup(name, vpcId);
  if (group && !group.managed) {
    throw new InputError(
      'user',
      `security group ${name} exists without the ${TAGS.managed} tag: not ours, left alone`,
    );
  }
  if (!group) {
    let groupId: string | undefined;
    if (step.mode === 'apply' && vpcId !== undefined) {
      groupId = await step.ec2.createSecurityGroup(name, vpcId, description, ownTags(step));
      await step.ec2.authorize(groupId, wanted, description);
    }
    return {
      outcome: outcome(step, {
        resource: 'security-group',
        name,
        ...(groupId ? { id: groupId } : {}),
        status: 'created',
        detail: wanted.map(describeRule).join('; '),
      }),
      ...(groupId ? { groupId } : {}),
    };
  }
  const retagged = await repairOwnerTag(step, group.groupId, group.tags);
  const have = new Set(group.ingress.map(describeRule));
  const want = new Set(wanted.map(describeRule));
  const extra = group.ingress.filter((r) => !want.has(describeRule(r)));
  const missing = wanted.filter((r) => !have.has(describeRule(r)));
  if (step.mode === 'apply') {
    await step.ec2.revoke(group.groupId, extra);
    await step.ec2.authorize(group.groupId, missing, description);
  }
  const notes = [
    ...extra.map(
      (r) =>
        `${verb(step.mode, 'revoked', 'revoke')} ${describeRule(r)}${isWorldOpen(r.cidr ?? r.cidrIpv6 ?? '') ? ' (open to the whole internet)' : ''}`,
    ),
    ...missing.map((r) => `${verb(step.mode, 'added', 'add')} ${describeRule(r)}`),
    ...(retagged ? [retagged] : []),
  ];
  return {
    outcome: outcome(step, {
      resource: 'security-group',
      name,
      id: group.groupId,
      status: notes.length > 0 ? 'repaired' : 'unchanged',
      detail: notes.length > 0 ? notes.join('; ') : wanted.map(describeRule).join('; '),
    }),
    groupId: group.groupId,
  };
}

/**
 * Deletes the security group when it carries the managed tag. AWS refuses while an instance (even a stopped one)
 * uses it: then it is kept, naming the instances (they are never terminated here).
 */
export async function removeSecurityGroup(
  step: UserStep,
  instances: readonly { instanceId: string; securityGroupIds: string[] }[],
): Promise<ResourceOutcome> {
  const name = resourceName(step.user);
  const vpcId = await step.ec2.findDefaultVpc();
  const group = vpcId ? await step.ec2.findSecurityGroup(name, vpcId) : undefined;
  if (!group?.managed) {
    return outcome(step, {
      resource: 'security-group',
      name,
      status: group ? 'kept' : 'absent',
      ...(group ? { detail: 'not managed' } : {}),
    });
  }
  const holders = instances
    .filter((i) => i.securityGroupIds.includes(group.groupId))
    .map((i) => i.instanceId);
  const deleted =
    step.mode === 'apply' ? await step.ec2.deleteSecurityGroup(group.groupId) : holders.length === 0;
  const named =
    step.mode === 'apply' ? (holders.length > 0 ? holders : instances.map((i) => i.instanceId)) : holders;
  return outcome(step, {
    resource: 'security-group',
    name,
    id: group.groupId,
    status: deleted ? 'deleted' : 'kept',
    ...(deleted
      ? {}
      : {
          detail: `still in use by ${named.join(', ') || 'an instance'}; run deprovision again once they are gone (they are never terminated here)`,
        }),
  });
}
