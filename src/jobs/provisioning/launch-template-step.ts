/** The user's launch template: what it holds, how two are compared, and ensuring / removing it. */
import type { RequestLaunchTemplateData, ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import { InputError } from '../../core/errors.js';
import { setupUserData } from '../../core/provisioning/machine-setup.js';
import type { ResourceOutcome } from '../../core/provisioning/outcome.js';
import { TAGS } from '../../core/policy.js';
import { resourceName } from '../../core/provisioning/roster.js';
import { DEFAULT_ROOT_GIB, type MachineSpec } from './machine-spec.js';
import { outcome, ownTags, repairOwnerTag, type UserStep } from './steps.js';

/** Stands in for the id of a security group a dry run would create (so the template would change too). */
export const NEW_SECURITY_GROUP = '(new security group)';

/**
 * The launch template a user gets (compared field by field on re-runs). Its instances and volumes carry only
 * the owner tag: the guardrail refuses every `cost-watchdog:*` key at launch, the template's included.
 */
export function launchTemplateData(
  plan: MachineSpec,
  user: string,
  securityGroupId: string,
  ownerTag: string,
): RequestLaunchTemplateData {
  const tags = [{ Key: ownerTag, Value: user }];
  const userData = setupUserData(plan.setup);
  return {
    ...(userData !== undefined ? { UserData: userData } : {}),
    ImageId: plan.imageId,
    InstanceType: plan.instanceType as RequestLaunchTemplateData['InstanceType'],
    // T2/T3 default to "unlimited" credits, billed when a busy instance runs out; standard throttles instead.
    ...(plan.burstable ? { CreditSpecification: { CpuCredits: 'standard' } } : {}),
    // setup gpu: the stack's GPU metrics role, so the CloudWatch agent may publish GPU use (EC2 checks the
    // student's iam:PassRole on it at launch; creating the template needs none).
    ...(plan.instanceProfile !== undefined ? { IamInstanceProfile: { Name: plan.instanceProfile } } : {}),
    KeyName: resourceName(user),
    SecurityGroupIds: [securityGroupId],
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    InstanceInitiatedShutdownBehavior: 'stop',
    BlockDeviceMappings: [
      {
        DeviceName: plan.rootDevice.deviceName,
        Ebs: {
          VolumeType: 'gp3',
          VolumeSize: Math.max(DEFAULT_ROOT_GIB, plan.rootDevice.sizeGiB),
          Encrypted: true,
          DeleteOnTermination: true,
        },
      },
    ],
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
  };
}

/** The name of the instance profile a template names (by name or by ARN); null when none. */
function profileName(profile: { Name?: string | undefined; Arn?: string | undefined } | undefined) {
  return profile?.Name ?? profile?.Arn?.split('/').pop() ?? null;
}

/** What the plan says about the GPU metric of a gpu template: the instance profile, or why there is none. */
function gpuMetricsSummary(spec: MachineSpec): string {
  if (spec.instanceProfile !== undefined) return `, GPU metrics role ${spec.instanceProfile}`;
  if (spec.gpuUnmeasured !== undefined) return `, GPU not measured: ${spec.gpuUnmeasured}`;
  return '';
}

/** The comparable parts of launch template data (what provision sets), in a stable form. */
export function templateFingerprint(
  data: RequestLaunchTemplateData | ResponseLaunchTemplateData | undefined,
): string {
  if (!data) return '';
  const bdm = data.BlockDeviceMappings?.[0];
  return JSON.stringify({
    image: data.ImageId,
    type: data.InstanceType,
    key: data.KeyName,
    groups: [...(data.SecurityGroupIds ?? [])].sort(),
    tokens: data.MetadataOptions?.HttpTokens,
    credits: data.CreditSpecification?.CpuCredits ?? null,
    shutdown: data.InstanceInitiatedShutdownBehavior,
    userData: data.UserData ?? '',
    profile: profileName(data.IamInstanceProfile),
    root: bdm
      ? [
          bdm.DeviceName,
          bdm.Ebs?.VolumeType,
          Number(bdm.Ebs?.VolumeSize),
          String(bdm.Ebs?.Encrypted) === 'true',
        ]
      : null,
    // Only the instance and volume tags are ours to compare (moto also echoes the template's own tags here).
    tags: (data.TagSpecifications ?? [])
      .filter((s) => s.ResourceType === 'instance' || s.ResourceType === 'volume')
      .map(
        (s) =>
          `${s.ResourceType}:${(s.Tags ?? [])
            .map((t) => `${t.Key}=${t.Value}`)
            .sort()
            .join(',')}`,
      )
      .sort(),
  });
}

/**
 * The launch template `cost-watchdog-<user>` for `spec`, using the security group `securityGroupId`: created
 * when missing, a new default version when what provision sets differs (a new AMI, another setup: `updated`), a
 * lost owner tag put back (`repaired`). A template of that name without the managed tag fails the user.
 */
export async function ensureLaunchTemplate(
  step: UserStep,
  spec: MachineSpec,
  securityGroupId: string | undefined,
): Promise<{ outcome: ResourceOutcome; templateId?: string }> {
  const name = resourceName(step.user);
  const data = launchTemplateData(spec, step.user, securityGroupId ?? NEW_SECURITY_GROUP, step.ownerTag);
  const summary = `${spec.instanceType}, ${spec.imageId}${spec.setup !== 'none' ? `, setup ${spec.setup} (JupyterLab on first boot)` : ''}${gpuMetricsSummary(spec)}`;
  const template = await step.ec2.findLaunchTemplate(name);
  if (template && !template.managed) {
    throw new InputError(
      'user',
      `launch template ${name} exists without the ${TAGS.managed} tag: not ours, left alone`,
    );
  }
  if (!template) {
    const id =
      step.mode === 'apply' ? await step.ec2.createLaunchTemplate(name, data, ownTags(step)) : undefined;
    return {
      outcome: outcome(step, {
        resource: 'launch-template',
        name,
        ...(id ? { id } : {}),
        status: 'created',
        detail: summary,
      }),
      ...(id ? { templateId: id } : {}),
    };
  }
  const retagged = await repairOwnerTag(step, template.id, template.tags);
  if (templateFingerprint(template.data) !== templateFingerprint(data)) {
    const version =
      step.mode === 'apply'
        ? `version ${await step.ec2.updateLaunchTemplate(template.id, data)}`
        : 'a new version';
    return {
      outcome: outcome(step, {
        resource: 'launch-template',
        name,
        id: template.id,
        status: 'updated',
        detail: `${version}: ${summary}${retagged ? `; ${retagged}` : ''}`,
      }),
      templateId: template.id,
    };
  }
  return {
    outcome: outcome(step, {
      resource: 'launch-template',
      name,
      id: template.id,
      status: retagged ? 'repaired' : 'unchanged',
      detail: retagged ? `${retagged}; ${summary}` : summary,
    }),
    templateId: template.id,
  };
}

/** Deletes the launch template (all versions) when it carries the managed tag; one of another origin is kept. */
export async function removeLaunchTemplate(step: UserStep): Promise<ResourceOutcome> {
  const name = resourceName(step.user);
  const template = await step.ec2.findLaunchTemplate(name);
  if (template?.managed) {
    if (step.mode === 'apply') await step.ec2.deleteLaunchTemplate(template.id);
    return outcome(step, { resource: 'launch-template', name, id: template.id, status: 'deleted' });
  }
  return outcome(step, {
    resource: 'launch-template',
    name,
    status: template ? 'kept' : 'absent',
    ...(template ? { detail: 'not managed' } : {}),
  });
}
