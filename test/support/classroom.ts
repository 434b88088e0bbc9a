/**
 * A provisioned class as IAM sees it: the guardrail provision writes, and alice's and bob's key pairs,
 * security groups and launch templates as provision creates them (launchTemplateData() itself); the stack's GPU
 * metrics instance profile and an admin's own.
 */
import { type GuardrailOptions, guardrailPolicies } from '../../src/core/provisioning/guardrail.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import { launchTemplateData } from '../../src/jobs/provisioning/launch-template-step.js';
import type { LaunchSettings, RunInstancesRequest, StudentAccount } from './student-requests.js';

/** The guardrail options of the class: two free types, two regions, the default tags and limits. */
export const CLASS_OPTIONS: GuardrailOptions = {
  allowedTypes: ['t3.micro', 't3.small'],
  allowedRegions: ['us-east-1', 'eu-west-1'],
  ownerTag: TAGS.owner,
  exemptTag: TAGS.exempt,
  keyParameterPrefix: NAMES.keyParameterPrefix,
  maxVolumeGiB: 30,
  imageOwners: ['amazon'],
  imageIds: [],
};

/** The class's guardrail (both documents). */
export const CLASS_GUARDRAIL = guardrailPolicies(CLASS_OPTIONS);

/** Amazon Linux 2023 (owner amazon), a Marketplace AMI and an AMI shared from a stranger's account. */
export const AMI = {
  amazonLinux: 'ami-0a1b2c3d4e5f60718',
  marketplace: 'ami-0badc0ffee0000001',
  stranger: 'ami-0badc0ffee0000002',
} as const;

type Plan = Parameters<typeof launchTemplateData>[0];

/** The plan provision makes for a plain user: the first free type, Amazon Linux 2023, an 8 GiB root. */
export function plainPlan(region: string, overrides: Partial<Plan> = {}): Plan {
  return {
    region,
    instanceType: 't3.micro',
    imageId: AMI.amazonLinux,
    rootDevice: { deviceName: '/dev/xvda', sizeGiB: 8 },
    setup: 'none',
    burstable: true,
    ...overrides,
  };
}

const managed = { [TAGS.managed]: 'true' };

/** An instance profile an admin made for their own machines, holding the role `/admin`. */
export const ADMIN_PROFILE = 'admin-profile';

/**
 * The account of the class in `region`: alice's and bob's resources tagged Owner=<name> as provision creates
 * them, the default security group (untagged), and the templates provision writes for `plan`.
 */
export function classroom(region = 'us-east-1', plan: Plan = plainPlan(region)): StudentAccount {
  const templates: Record<string, LaunchSettings> = {};
  const tags: StudentAccount['tags'] = { 'sg-default0000000001': {} };
  for (const user of ['alice', 'bob']) {
    const owner = { ...managed, [TAGS.owner]: user };
    tags[`sg-${user}`] = owner;
    tags[`cost-watchdog-${user}`] = owner;
    tags[`lt-${user}`] = owner;
    templates[`lt-${user}`] = launchTemplateData(plan, user, `sg-${user}`, TAGS.owner);
  }
  return {
    region,
    vpcId: 'vpc-0default000000001',
    subnetId: 'subnet-0default00000001',
    defaultSecurityGroup: 'sg-default0000000001',
    images: {
      [AMI.amazonLinux]: 'amazon',
      [AMI.marketplace]: 'aws-marketplace',
      [AMI.stranger]: '444455556666',
    },
    tags,
    templates,
    instanceProfiles: {
      [NAMES.gpuMetricsRole]: { path: NAMES.iamPath, role: `${NAMES.iamPath}${NAMES.gpuMetricsRole}` },
      [ADMIN_PROFILE]: { path: '/', role: '/admin' },
    },
  };
}

/** What `aws ec2 run-instances --launch-template LaunchTemplateName=cost-watchdog-<user>` sends. */
export function fromOwnTemplate(user = 'alice', overrides: RunInstancesRequest = {}): RunInstancesRequest {
  return { LaunchTemplate: { LaunchTemplateId: `lt-${user}` }, ...overrides };
}

/** RunInstances tag specifications for the instance (and its volumes, with `volumes`). */
export function tagged(
  tags: Record<string, string>,
  volumes = false,
): RunInstancesRequest['TagSpecifications'] {
  const list = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  return [
    { ResourceType: 'instance', Tags: list },
    ...(volumes ? [{ ResourceType: 'volume', Tags: list }] : []),
  ];
}
