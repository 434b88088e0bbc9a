/**
 * The guardrail policy of the `cost-watchdog-users` group: what a provisioned student may do in the account.
 * Tests judge it with an independent IAM simulator (@cloud-copilot/iam-simulate); this code only writes it.
 */
import { FORGEABLE_MANAGED_TAGS, NAMES } from '../policy.js';

/** An IAM condition block: operator -> key -> value(s). */
export type Conditions = Record<string, Record<string, string | string[]>>;

/** One IAM policy statement (the subset this code writes). */
export interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Conditions;
}

/** An IAM policy document. */
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** What the guardrail allows; computed by the provision job from the policy and the account. */
export interface GuardrailOptions {
  /** Instance types students may launch. */
  allowedTypes: readonly string[];
  /** Regions students may launch in. */
  allowedRegions: readonly string[];
  /** Tag key that names an instance's owner (the policy's `tags.owner`, default `Owner`). */
  ownerTag: string;
  /** Tag key of exemptions and snoozes (the policy's `tags.exempt`); students may never set it. */
  exemptTag: string;
  /** Prefix of the SSM parameters holding private keys, e.g. /cost-watchdog/keys/. */
  keyParameterPrefix: string;
  /** Largest EBS volume (GiB) at launch. */
  maxVolumeGiB: number;
  /** AMI owners (ec2:Owner: amazon, aws-marketplace or an account id) students may launch from. */
  imageOwners: readonly string[];
  /** AMI ids students may launch whatever their owner. */
  imageIds: readonly string[];
  /** ARN partition (aws, aws-cn, aws-us-gov); default aws. */
  partition?: string;
}

/** Name of the inline policy on the users group. */
export const GUARDRAIL_POLICY_NAME = 'cost-watchdog-guardrail';

/** Name of the customer managed policy (path /cost-watchdog/) attached to the users group: the launch limits. */
export const LAUNCH_LIMITS_POLICY_NAME = 'cost-watchdog-launch-limits';

/**
 * IAM's size limits in characters (white space not counted): all inline policies of one group together, and one
 * managed policy. The whole guardrail is over the first, hence two documents.
 */
export const IAM_POLICY_LIMITS = { groupInline: 5120, managed: 6144 } as const;

/** The guardrail as IAM stores it. */
export interface Guardrail {
  /** The users group's inline policy: what a student may do at all; the tags and IAM changes refused. */
  inline: PolicyDocument;
  /**
   * The managed policy attached to the group: what a launch must look like (resources, image, volumes, ...) and
   * the one role it may pass (the gpu template's GPU metrics role, to EC2 only).
   */
  launchLimits: PolicyDocument;
}

/** The size IAM counts for a policy document (characters outside white space). */
export function policySize(document: PolicyDocument): number {
  return JSON.stringify(document).replace(/\s/g, '').length;
}

/** IOPS and throughput a gp3 volume has without paying extra: the most a student's volume may have. */
export const GP3_BASELINE = { iops: 3000, throughputMiBps: 125 } as const;

/** Volume types a student may launch with (general purpose SSD; io1/io2/st1/sc1/standard are refused). */
export const STUDENT_VOLUME_TYPES = ['gp3', 'gp2'] as const;

/**
 * The Sid of each Deny statement that closes one way out of the watchdog. Tests name these to show which
 * statement stops which evasion, and that the evasion succeeds without it.
 */
export const GUARD = {
  otherTypes: 'DenyOtherTypes',
  otherRegions: 'DenyOtherRegions',
  decisionTags: 'DenyDecisionTags',
  exemptTagAnyCase: 'DenyExemptTagInAnyCase',
  othersResources: 'DenyOtherUsersGroupsKeysTemplates',
  otherImages: 'DenyOtherImages',
  largeVolumes: 'DenyLargeVolumes',
  volumeTypes: 'DenyCostlyVolumeTypes',
  provisionedIops: 'DenyProvisionedIops',
  provisionedThroughput: 'DenyProvisionedThroughput',
  unencrypted: 'DenyUnencryptedVolumes',
  dedicated: 'DenyDedicatedHardware',
  spot: 'DenySpotAndCapacityBlocks',
  imdsV1: 'DenyImdsV1',
  retag: 'NoRetagOrAttributeChanges',
  instanceProfiles: 'NoInstanceProfileChanges',
  iam: 'NoIamChanges',
  otherRoles: 'DenyPassingOtherRoles',
  metricsRoleElsewhere: 'DenyPassingTheMetricsRoleElsewhere',
} as const;

/** The only service a student may pass the GPU metrics role to. */
export const GPU_METRICS_ROLE_SERVICE = 'ec2.amazonaws.com';

/** The ARN (any account of `partition`) of the one role a student may pass: the stack's GPU metrics role. */
export function gpuMetricsRoleArn(partition = 'aws'): string {
  return `arn:${partition}:iam::*:role${NAMES.iamPath}${NAMES.gpuMetricsRole}`;
}

/** Read-only EC2 calls a student needs to see their instances and launch from the template. */
export const STUDENT_DESCRIBE_ACTIONS = [
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceStatus',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeImages',
  'ec2:DescribeKeyPairs',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeAvailabilityZones',
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:DescribeVolumes',
  'ec2:DescribeTags',
  'ec2:DescribeRegions',
] as const;

/**
 * The tag keys (IAM wildcards) a student may not put on anything: every `cost-watchdog:*` key, the policy's
 * exempt key when it was renamed, and the "managed" markers of EKS / Kubernetes that anyone could forge.
 */
export function forbiddenTagKeys(exemptTag: string): string[] {
  const keys = ['cost-watchdog:*', ...FORGEABLE_MANAGED_TAGS];
  return exemptTag.startsWith('cost-watchdog:') ? keys : [...keys, exemptTag];
}

/**
 * The guardrail: launch only allowed types in allowed regions, tagged `Owner` = your user name, from your own
 * security group, key pair and launch template, with what the template sets pinned (volume size, type, IOPS,
 * throughput, encryption, default tenancy, on-demand, IMDSv2, AMIs from allowed owners); never a tag the
 * watchdog decides on; start/stop/reboot only your own instances; read-only describes; read your own private
 * key; change your own password and set up your own virtual MFA device; pass the stack's GPU metrics role to EC2
 * (the gpu template's instance profile) and no other role anywhere; nothing else in IAM, and no instance
 * profile changes on running instances.
 *
 * Allows are broad (the owner tag); every restriction is its own explicit Deny (see GUARD), so it also holds
 * when an admin attaches a broader policy to a student.
 */
export function guardrailPolicies(options: GuardrailOptions): Guardrail {
  const ownerTag = options.ownerTag;
  const arn = (rest: string) => `arn:${options.partition ?? 'aws'}:${rest}`;
  const regions = [...options.allowedRegions];
  const instances = arn('ec2:*:*:instance/*');
  const volumes = arn('ec2:*:*:volume/*');
  const ownUser = arn('iam::*:user/*/${aws:username}');
  const ownMfaDevice = arn('iam::*:mfa/${aws:username}');
  const tagActions = ['ec2:RunInstances', 'ec2:CreateTags'];
  const metricsRole = gpuMetricsRoleArn(options.partition);
  const toEc2 = { 'iam:PassedToService': GPU_METRICS_ROLE_SERVICE };
  const inline: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadOnlyDescribe',
        Effect: 'Allow',
        Action: [...STUDENT_DESCRIBE_ACTIONS],
        Resource: '*',
      },
      {
        Sid: 'LaunchOwnInstances',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringEquals: { [`aws:RequestTag/${ownerTag}`]: '${aws:username}' } },
      },
      {
        Sid: 'LaunchWithTheseResources',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [
          volumes,
          arn('ec2:*:*:network-interface/*'),
          arn('ec2:*:*:security-group/*'),
          arn('ec2:*:*:subnet/*'),
          arn('ec2:*:*:key-pair/*'),
          arn('ec2:*:*:launch-template/*'),
          arn('ec2:*::image/*'),
        ],
      },
      {
        Sid: 'TagOnlyAtLaunch',
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: [instances, volumes],
        Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      },
      {
        Sid: 'StartStopOwnInstances',
        Effect: 'Allow',
        Action: ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:RebootInstances'],
        Resource: instances,
        Condition: { StringEquals: { [`aws:ResourceTag/${ownerTag}`]: '${aws:username}' } },
      },
      {
        Sid: 'ReadOwnKeyAndPublicAmis',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: [
          arn(`ssm:*:*:parameter${options.keyParameterPrefix}${'${aws:username}'}`),
          arn('ssm:*::parameter/aws/service/ami-amazon-linux-latest/*'),
        ],
      },
      // The forced password reset, and self-managed MFA as in AWS's "IAM: Allows IAM users to self-manage an
      // MFA device" example: the virtual device is named after the user; switching MFA off needs an MFA sign-in.
      {
        Sid: 'OwnPasswordAndMfa',
        Effect: 'Allow',
        Action: [
          'iam:ChangePassword',
          'iam:GetUser',
          'iam:CreateVirtualMFADevice',
          'iam:DeleteVirtualMFADevice',
          'iam:EnableMFADevice',
          'iam:ResyncMFADevice',
          'iam:GetMFADevice',
          'iam:ListMFADevices',
        ],
        Resource: [ownUser, ownMfaDevice],
      },
      {
        Sid: 'ReadPasswordRulesAndMfaDevices',
        Effect: 'Allow',
        Action: ['iam:GetAccountPasswordPolicy', 'iam:ListVirtualMFADevices'],
        Resource: '*',
      },
      {
        Sid: 'DeactivateOwnMfaOnlyWithMfa',
        Effect: 'Allow',
        Action: 'iam:DeactivateMFADevice',
        Resource: ownUser,
        Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
      },
      {
        Sid: GUARD.otherTypes,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringNotEquals: { 'ec2:InstanceType': [...options.allowedTypes] } },
      },
      {
        Sid: GUARD.otherRegions,
        Effect: 'Deny',
        Action: ['ec2:RunInstances', 'ec2:StartInstances'],
        Resource: '*',
        Condition: { StringNotEquals: { 'aws:RequestedRegion': regions } },
      },
      // Tags the watchdog decides on. aws:TagKeys holds every key of the request (and of the launch template's
      // tag specifications) for each resource tagged, so this refuses them at launch and afterwards.
      {
        Sid: GUARD.decisionTags,
        Effect: 'Deny',
        Action: tagActions,
        Resource: '*',
        Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': forbiddenTagKeys(options.exemptTag) } },
      },
      // IAM reads the tag key in aws:ResourceTag/<key> without regard to case, so the stack's own "never stop
      // exempt" denies would match COST-WATCHDOG:EXEMPT=true; StringLike above is case-sensitive.
      {
        Sid: GUARD.exemptTagAnyCase,
        Effect: 'Deny',
        Action: tagActions,
        Resource: '*',
        Condition: { 'ForAnyValue:StringEqualsIgnoreCase': { 'aws:TagKeys': [options.exemptTag] } },
      },
      {
        Sid: GUARD.retag,
        Effect: 'Deny',
        Action: [
          'ec2:DeleteTags',
          'ec2:ModifyInstanceAttribute',
          'ec2:ModifyInstanceCreditSpecification',
          'ec2:ModifyDefaultCreditSpecification',
          'ec2:ModifyInstanceMetadataOptions',
        ],
        Resource: '*',
      },
      {
        Sid: GUARD.iam,
        Effect: 'Deny',
        Action: [
          'iam:Add*',
          'iam:Attach*',
          'iam:Create*',
          'iam:Delete*',
          'iam:Detach*',
          'iam:Put*',
          'iam:Remove*',
          'iam:Set*',
          'iam:Tag*',
          'iam:Untag*',
          'iam:Update*',
          'iam:Upload*',
        ],
        // Everything but the user's own virtual MFA device (OwnPasswordAndMfa above).
        NotResource: ownMfaDevice,
      },
    ],
  };
  const launchLimits: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      // The gpu template names the stack's GPU metrics instance profile: launching it passes that role to EC2.
      {
        Sid: 'PassTheGpuMetricsRoleToEc2',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: metricsRole,
        Condition: { StringEquals: toEc2 },
      },
      // Every other role, and this one to any other service, stays refused whatever else is attached.
      {
        Sid: GUARD.otherRoles,
        Effect: 'Deny',
        Action: 'iam:PassRole',
        NotResource: metricsRole,
      },
      {
        Sid: GUARD.metricsRoleElsewhere,
        Effect: 'Deny',
        Action: 'iam:PassRole',
        Resource: metricsRole,
        Condition: { StringNotEquals: toEc2 },
      },
      // An instance gets its profile at launch only: none added to, swapped on or taken off a running one.
      {
        Sid: GUARD.instanceProfiles,
        Effect: 'Deny',
        Action: [
          'ec2:AssociateIamInstanceProfile',
          'ec2:ReplaceIamInstanceProfileAssociation',
          'ec2:DisassociateIamInstanceProfile',
        ],
        Resource: '*',
      },
      {
        Sid: GUARD.othersResources,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: [
          arn('ec2:*:*:security-group/*'),
          arn('ec2:*:*:key-pair/*'),
          arn('ec2:*:*:launch-template/*'),
        ],
        Condition: { StringNotEquals: { [`aws:ResourceTag/${ownerTag}`]: '${aws:username}' } },
      },
      {
        Sid: GUARD.otherImages,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: arn('ec2:*::image/*'),
        Condition: {
          StringNotEquals: {
            'ec2:Owner': [...options.imageOwners],
            ...(options.imageIds.length > 0 ? { 'ec2:ImageID': [...options.imageIds] } : {}),
          },
        },
      },
      {
        Sid: GUARD.largeVolumes,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: volumes,
        Condition: { NumericGreaterThan: { 'ec2:VolumeSize': String(options.maxVolumeGiB) } },
      },
      {
        Sid: GUARD.volumeTypes,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: volumes,
        Condition: { StringNotEquals: { 'ec2:VolumeType': [...STUDENT_VOLUME_TYPES] } },
      },
      {
        Sid: GUARD.provisionedIops,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: volumes,
        Condition: { NumericGreaterThan: { 'ec2:VolumeIops': String(GP3_BASELINE.iops) } },
      },
      {
        Sid: GUARD.provisionedThroughput,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: volumes,
        Condition: { NumericGreaterThan: { 'ec2:VolumeThroughput': String(GP3_BASELINE.throughputMiBps) } },
      },
      {
        Sid: GUARD.unencrypted,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: volumes,
        Condition: { Bool: { 'ec2:Encrypted': 'false' } },
      },
      // The known costly values rather than "not default": a launch is never refused because EC2 left a key out.
      {
        Sid: GUARD.dedicated,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringEquals: { 'ec2:Tenancy': ['dedicated', 'host'] } },
      },
      {
        Sid: GUARD.spot,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringEquals: { 'ec2:InstanceMarketType': ['spot', 'capacity-block'] } },
      },
      {
        Sid: GUARD.imdsV1,
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringNotEquals: { 'ec2:MetadataHttpTokens': 'required' } },
      },
    ],
  };
  return { inline, launchLimits };
}
