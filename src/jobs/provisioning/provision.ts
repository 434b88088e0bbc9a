import { randomInt } from 'node:crypto';
import type { RequestLaunchTemplateData, ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type AwsTarget, clientConfig, mapBounded } from '../../aws/clients.js';
import { IamAccessDeniedError, IamAdapter } from '../../aws/provisioning/iam.js';
import { describeRule, type IngressRule, ProvisionEc2 } from '../../aws/provisioning/provision-ec2.js';
import { OwnerSubscriptions } from '../../aws/provisioning/sns-subscriptions.js';
import { al2023Parameter, deepLearningParameter, ParameterStore } from '../../aws/provisioning/ssm.js';
import { ConfigError, describeError, InputError, printable } from '../../core/errors.js';
import {
  GUARDRAIL_POLICY_NAME,
  type Guardrail,
  guardrailPolicies,
  IAM_POLICY_LIMITS,
  LAUNCH_LIMITS_POLICY_NAME,
  policySize,
} from '../../core/provisioning/guardrail.js';
import { renderConnectionInstructions } from '../../core/provisioning/instructions.js';
import {
  DEFAULT_GPU_TYPE,
  type MachineSetup,
  notFreeTierWarning,
  setupUserData,
} from '../../core/provisioning/machine-setup.js';
import { NAMES, type Policy, TAGS } from '../../core/policy.js';
import {
  isWorldOpen,
  keyParameterName,
  parseUserName,
  passwordParameterName,
  type RosterRow,
  resourceName,
  type UserRequest,
} from '../../core/provisioning/roster.js';

/** Largest root volume a launch template gets: the EBS free allowance is 30 GiB a month in all. */
export const MAX_ROOT_GIB = 30;
/** Root volume size when the image needs less: room for three instances within the free 30 GiB. */
export const DEFAULT_ROOT_GIB = 8;

/** The adapters provisioning needs. IAM is global; EC2 and SSM per region; SNS only with an alert topic. */
export interface ProvisionServices {
  iam: IamAdapter;
  ec2(region: string): ProvisionEc2;
  ssm(region: string): ParameterStore;
  subscriptions?: OwnerSubscriptions;
}

/** SDK-backed services for `home` (its endpoint and credentials), one client per region. */
export function sdkProvisionServices(home: AwsTarget, topicArn?: string): ProvisionServices {
  const ec2 = new Map<string, ProvisionEc2>();
  const ssm = new Map<string, ParameterStore>();
  const at = (region: string) => clientConfig({ ...home, region });
  return {
    iam: new IamAdapter(new IAMClient(at(home.region))),
    ec2(region) {
      let a = ec2.get(region);
      if (!a) {
        a = new ProvisionEc2(new EC2Client(at(region)), region);
        ec2.set(region, a);
      }
      return a;
    },
    ssm(region) {
      let a = ssm.get(region);
      if (!a) {
        a = new ParameterStore(new SSMClient(at(region)));
        ssm.set(region, a);
      }
      return a;
    },
    ...(topicArn
      ? {
          subscriptions: new OwnerSubscriptions(
            new SNSClient(at(topicArn.split(':')[3] || home.region)),
            topicArn,
          ),
        }
      : {}),
  };
}

/** Options of a provisioning run. */
export interface ProvisionOptions {
  services: ProvisionServices;
  policy: Policy;
  /** Region of users that name none; also where the free-tier types for the guardrail are looked up. */
  homeRegion: string;
  /** Give each new user a console password (must be reset at first sign-in), stored in SSM. */
  consoleLogin?: boolean;
  /** Give each user one access key (secret stored in SSM). Off unless asked. */
  accessKey?: boolean;
  /** Password generator (tests inject one). */
  generatePassword?: () => string;
  /**
   * Leave IAM alone (CLI `--no-iam`, handler `"iam": false`): no group, user, password or access key; the
   * key pair, security group, launch template and subscription are still done. Also what happens on its own
   * when IAM denies the first call (lab accounts).
   */
  skipIam?: boolean;
}

/** What happened to one resource. */
export interface ResourceOutcome {
  resource:
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
  name: string;
  status:
    | 'created'
    | 'updated'
    | 'fixed'
    | 'unchanged'
    | 'removed'
    | 'kept'
    | 'absent'
    | 'pending'
    | 'skipped';
  id?: string;
  detail?: string;
}

/** The result for one user: never contains a private key, password or secret access key. */
export interface ProvisionResult {
  user: string;
  region: string;
  /** created: something new; updated: something changed or was fixed; unchanged: nothing to do. */
  status: 'created' | 'updated' | 'unchanged' | 'failed';
  resources: ResourceOutcome[];
  keyParameter?: string;
  launchTemplateId?: string;
  instanceType?: string;
  /** What the launch template's instances are ready for on first boot (absent: plain Amazon Linux). */
  setup?: Exclude<MachineSetup, 'none'>;
  /** Plain words when the launch template is not free tier (GPU types, big volumes). */
  costWarning?: string;
  instructions?: string;
  error?: string;
}

/** The once-per-run part: what the guardrail allows, and the group carrying it. */
export interface ProvisionSetup {
  allowedTypes: string[];
  allowedRegions: string[];
  /** Largest EBS volume (GiB) the guardrail lets a student launch; every template provision makes fits. */
  maxVolumeGiB: number;
  guardrail: Guardrail;
  group: ResourceOutcome;
  /** Why IAM (group, users, passwords, access keys) is skipped in this run; absent when it is not. */
  iamSkipped?: string;
}

/** Why IAM is skipped when the caller turned it off. */
export const IAM_OFF_REASON =
  "IAM turned off for this run (--no-iam); students use the account's own role, as in lab accounts";

/** Why IAM is skipped after a denied call: the denial and what it means. */
export function iamDeniedReason(err: IamAccessDeniedError): string {
  return `${err.message}: lab accounts forbid IAM users; students use the lab's own role`;
}

const MANAGED = { [TAGS.managed]: 'true' } as const;

/**
 * The root volume (GiB) of the gpu setup's template in `region` when a GPU type is allowed (the Deep Learning
 * AMI's root is larger than the free 30 GiB); 0 when no allowed type has a GPU or the AMI is not published there.
 */
async function gpuTemplateRootGiB(options: ProvisionOptions, region: string): Promise<number> {
  const ec2 = options.services.ec2(region);
  const architectures = new Set<string>();
  for (const type of options.policy.nonFreeTier.allowedTypes) {
    const facts = await ec2.typeFacts(type);
    if (facts && facts.gpus > 0) architectures.add(facts.architecture);
  }
  let largest = 0;
  for (const architecture of architectures) {
    const imageId = await options.services.ssm(region).find(deepLearningParameter(architecture));
    if (imageId === undefined) continue;
    largest = Math.max(largest, DEFAULT_ROOT_GIB, (await ec2.rootDevice(imageId)).sizeGiB);
  }
  return largest;
}

/** Refuses a guardrail IAM would reject for its size, naming the lists in watchdog.yml that make it long. */
function checkGuardrailSize(guardrail: Guardrail): void {
  const checks = [
    [
      GUARDRAIL_POLICY_NAME,
      policySize(guardrail.inline),
      IAM_POLICY_LIMITS.groupInline,
      'nonFreeTier.allowedTypes or regions',
    ],
    [
      LAUNCH_LIMITS_POLICY_NAME,
      policySize(guardrail.launchLimits),
      IAM_POLICY_LIMITS.managed,
      'guardrail.imageIds or guardrail.imageOwners',
    ],
  ] as const;
  for (const [name, size, limit, lists] of checks) {
    if (size > limit) {
      throw new ConfigError(
        `the guardrail policy ${name} would be ${size} characters, over IAM's limit of ${limit}; shorten ${lists} in watchdog.yml`,
      );
    }
  }
}

/**
 * The group and its guardrail, once per run. Allowed regions: the policy's list, or the home region when the
 * policy says `all`. Allowed types: the account's free-tier types in the home region plus the policy's
 * `nonFreeTier.allowedTypes`. Largest volume: the policy's `guardrail.maxVolumeGiB`, raised to the gpu setup's
 * root volume when a GPU type is allowed, so that a student can launch every template provision makes.
 */
export async function prepareProvision(options: ProvisionOptions): Promise<ProvisionSetup> {
  const { policy, services, homeRegion } = options;
  const allowedRegions = policy.regions === 'all' ? [homeRegion] : [...policy.regions];
  const freeTier = await services.ec2(homeRegion).freeTierTypes();
  const allowedTypes = [...new Set([...freeTier, ...policy.nonFreeTier.allowedTypes])];
  if (allowedTypes.length === 0) {
    throw new ConfigError(
      `no instance type is allowed: EC2 lists no FreeTierEligible type in ${homeRegion} for this account and the policy's nonFreeTier.allowedTypes is empty; add the types students may use to nonFreeTier.allowedTypes in watchdog.yml`,
    );
  }
  const maxVolumeGiB = Math.max(policy.guardrail.maxVolumeGiB, await gpuTemplateRootGiB(options, homeRegion));
  const guardrail = guardrailPolicies({
    allowedTypes,
    allowedRegions,
    ownerTag: policy.tags.owner,
    exemptTag: policy.tags.exempt,
    keyParameterPrefix: NAMES.keyParameterPrefix,
    maxVolumeGiB,
    imageOwners: policy.guardrail.imageOwners,
    imageIds: policy.guardrail.imageIds,
  });
  checkGuardrailSize(guardrail);
  let iamSkipped = options.skipIam ? IAM_OFF_REASON : undefined;
  let change: ResourceOutcome['status'] = 'skipped';
  if (iamSkipped === undefined) {
    try {
      change = await services.iam.ensureGroup(
        NAMES.usersGroup,
        NAMES.iamPath,
        GUARDRAIL_POLICY_NAME,
        guardrail.inline,
        [{ name: LAUNCH_LIMITS_POLICY_NAME, document: guardrail.launchLimits }],
      );
    } catch (err) {
      if (!(err instanceof IamAccessDeniedError)) throw err;
      iamSkipped = iamDeniedReason(err);
    }
  }
  if (iamSkipped !== undefined) {
    return {
      allowedTypes,
      allowedRegions,
      maxVolumeGiB,
      guardrail,
      group: { resource: 'group', name: NAMES.usersGroup, status: 'skipped', detail: iamSkipped },
      iamSkipped,
    };
  }
  return {
    allowedTypes,
    allowedRegions,
    maxVolumeGiB,
    guardrail,
    group: {
      resource: 'group',
      name: NAMES.usersGroup,
      status: change,
      detail: `guardrail: types ${allowedTypes.join(', ')}; regions ${allowedRegions.join(', ')}; volumes up to ${maxVolumeGiB} GiB`,
    },
  };
}

/** Everything checked before a single resource is created for the user. */
interface Plan {
  region: string;
  instanceType: string;
  imageId: string;
  rootDevice: { deviceName: string; sizeGiB: number };
  setup: MachineSetup;
  /** The type has CPU credits (t2/t3/t3a/t4g): the template pins them to standard. */
  burstable: boolean;
  /** Plain words when the template is not free tier. */
  costWarning?: string;
}

async function planUser(
  request: UserRequest,
  setup: ProvisionSetup,
  options: ProvisionOptions,
): Promise<Plan> {
  const region = request.region ?? options.homeRegion;
  if (!setup.allowedRegions.includes(region)) {
    throw new InputError(
      'region',
      `${region} is not an allowed region (allowed: ${setup.allowedRegions.join(', ')}; set regions in watchdog.yml to allow more)`,
    );
  }
  const ec2 = options.services.ec2(region);
  const setupName: MachineSetup = request.setup ?? 'none';
  let instanceType = request.instanceType ?? (setupName === 'gpu' ? DEFAULT_GPU_TYPE : undefined);
  if (instanceType === undefined) {
    const free = (await ec2.freeTierTypes()).filter((t) => setup.allowedTypes.includes(t));
    instanceType = free[0];
    if (instanceType === undefined) {
      throw new InputError(
        'type',
        `no FreeTierEligible type in ${region} for this account; give a type explicitly`,
      );
    }
  }
  const facts = await ec2.typeFacts(instanceType);
  if (!facts)
    throw new InputError(
      'type',
      `unknown instance type "${printable(instanceType)}" in ${region}; use e.g. t3.micro`,
    );
  if (!setup.allowedTypes.includes(instanceType)) {
    throw new InputError(
      'type',
      `${instanceType} is not allowed (allowed: ${setup.allowedTypes.join(', ')}); add it to nonFreeTier.allowedTypes in watchdog.yml to allow it`,
    );
  }
  if (setupName === 'gpu' && facts.gpus === 0) {
    throw new InputError(
      'type',
      `${instanceType} has no GPU, but setup gpu needs one; leave the type out (default ${DEFAULT_GPU_TYPE}) or use setup datascience`,
    );
  }
  if (setup.iamSkipped === undefined) {
    const existing = await options.services.iam.getUser(request.user);
    if (existing && existing.path !== NAMES.iamPath) {
      throw new InputError(
        'user',
        `IAM user ${request.user} already exists with path ${existing.path}, not ${NAMES.iamPath}: it was not created by cost-watchdog, so it is left alone; choose another name`,
      );
    }
  }
  // The gpu setup runs the AWS Deep Learning AMI (NVIDIA driver and CUDA on Amazon Linux 2023); its root
  // volume is larger than the free 30 GiB, which the cost warning says. Everything else: Amazon Linux 2023.
  const parameter =
    setupName === 'gpu' ? deepLearningParameter(facts.architecture) : al2023Parameter(facts.architecture);
  const imageId = await options.services.ssm(region).read(parameter);
  const rootDevice = await ec2.rootDevice(imageId);
  if (setupName !== 'gpu' && rootDevice.sizeGiB > MAX_ROOT_GIB) {
    throw new InputError(
      'type',
      `the Amazon Linux image ${imageId} needs ${rootDevice.sizeGiB} GiB, over the free ${MAX_ROOT_GIB} GiB`,
    );
  }
  const rootGiB = Math.max(DEFAULT_ROOT_GIB, rootDevice.sizeGiB);
  // Without IAM (lab accounts) there is no guardrail to fit.
  if (setup.iamSkipped === undefined && rootGiB > setup.maxVolumeGiB) {
    throw new InputError(
      'setup',
      `the launch template would get a ${rootGiB} GiB root volume (image ${imageId} in ${region}), over the guardrail's ${setup.maxVolumeGiB} GiB, so the student could not launch it; raise guardrail.maxVolumeGiB in watchdog.yml to at least ${rootGiB}`,
    );
  }
  const costWarning = notFreeTierWarning({
    instanceType,
    region,
    freeTierEligible: facts.freeTierEligible,
    rootGiB,
    freeRootGiB: MAX_ROOT_GIB,
  });
  return {
    region,
    instanceType,
    imageId,
    rootDevice,
    setup: setupName,
    burstable: facts.burstable,
    ...(costWarning ? { costWarning } : {}),
  };
}

/**
 * The launch template a user gets (compared field by field on re-runs). Its instances and volumes carry only
 * the owner tag: the guardrail refuses every `cost-watchdog:*` key at launch, the template's included.
 */
export function launchTemplateData(
  plan: Plan,
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

/** The ingress rules a user's security group must have: SSH (and the notebook port) from their CIDR. */
export function wantedIngress(request: UserRequest): IngressRule[] {
  const source = request.cidr.includes(':') ? { cidrIpv6: request.cidr } : { cidr: request.cidr };
  const ports = [22, ...(request.notebookPort !== undefined ? [request.notebookPort] : [])];
  return ports.map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, ...source }));
}

/** A console password that meets IAM's default rules (20 characters, upper, lower, digit, symbol). */
export function generatePassword(): string {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@#%^*()-_=+[]{}:,.?'];
  const all = sets.join('');
  const chars = sets.map((s) => s[randomInt(s.length)] as string);
  while (chars.length < 20) chars.push(all[randomInt(all.length)] as string);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

function overall(resources: ResourceOutcome[]): ProvisionResult['status'] {
  if (resources.some((r) => r.status === 'created')) return 'created';
  if (resources.some((r) => r.status === 'updated' || r.status === 'fixed')) return 'updated';
  return 'unchanged';
}

/**
 * Provisions one user idempotently: IAM user in the group, optional console password and access key, key
 * pair (private key only to SSM), default VPC, security group, launch template, alert subscription. Every input
 * and name check runs before anything is created. A second run with the same input reports `unchanged`; a
 * security group rule someone added is revoked and reported as `fixed`. Errors become a `failed` result.
 */
export async function provisionUser(
  request: UserRequest,
  setup: ProvisionSetup,
  options: ProvisionOptions,
): Promise<ProvisionResult> {
  const { services, policy } = options;
  const user = request.user;
  const name = resourceName(user);
  const resources: ResourceOutcome[] = [];
  const result = (status: ProvisionResult['status'], extra: Partial<ProvisionResult>): ProvisionResult => ({
    user,
    region: request.region ?? options.homeRegion,
    status,
    resources,
    ...extra,
  });
  let plan: Plan;
  try {
    plan = await planUser(request, setup, options);
  } catch (err) {
    return result('failed', { error: describeError(err) });
  }
  const ec2 = services.ec2(plan.region);
  const ssm = services.ssm(plan.region);
  const ownerTag = policy.tags.owner;
  // The guardrail lets a student launch only with the key pair, security group and launch template tagged with
  // their name: put the tag back where it went missing (or names someone else). Returns what was done.
  const repairOwnerTag = async (id: string, tags: Record<string, string>): Promise<string | undefined> => {
    if (tags[ownerTag] === user) return undefined;
    await ec2.tag(id, { [ownerTag]: user });
    return `tagged ${ownerTag}=${user} (was ${tags[ownerTag] === undefined ? 'missing' : `"${printable(tags[ownerTag])}"`})`;
  };
  let launchTemplateId: string | undefined;
  try {
    if (setup.iamSkipped !== undefined) {
      // Lab accounts: no IAM user, group, password or access key; everything below still happens.
      resources.push({
        resource: 'user',
        name: user,
        status: 'skipped',
        detail: `IAM user and group: ${setup.iamSkipped}`,
      });
      if (options.consoleLogin)
        resources.push({
          resource: 'console-password',
          name: user,
          status: 'skipped',
          detail: 'no IAM user',
        });
      if (options.accessKey)
        resources.push({ resource: 'access-key', name: user, status: 'skipped', detail: 'no IAM user' });
    } else {
      // IAM user and group membership.
      const found = await services.iam.getUser(user);
      if (!found)
        await services.iam.createUser(user, NAMES.iamPath, { ...MANAGED, [policy.tags.owner]: user });
      resources.push({ resource: 'user', name: user, status: found ? 'unchanged' : 'created' });
      resources.push({
        resource: 'group-membership',
        name: NAMES.usersGroup,
        status: await services.iam.ensureInGroup(user, NAMES.usersGroup),
      });
    }

    if (options.consoleLogin && setup.iamSkipped === undefined) {
      const passwordParameter = passwordParameterName(user);
      if (await services.iam.hasLoginProfile(user)) {
        resources.push({ resource: 'console-password', name: passwordParameter, status: 'unchanged' });
      } else {
        // A parameter without a login profile is left over from a failed run: replace it.
        await ssm.deleteManaged(passwordParameter);
        const password = (options.generatePassword ?? generatePassword)();
        await ssm.putSecret(
          passwordParameter,
          password,
          `first console password of ${user}; must be changed at sign-in`,
        );
        try {
          await services.iam.createLoginProfile(user, password);
        } catch (err) {
          await ssm.deleteManaged(passwordParameter);
          throw err;
        }
        resources.push({
          resource: 'console-password',
          name: passwordParameter,
          status: 'created',
          detail: 'reset required at first sign-in',
        });
      }
    }
    if (options.accessKey && setup.iamSkipped === undefined) {
      const parameter = `${NAMES.accessKeyParameterPrefix}${user}`;
      const keys = await services.iam.accessKeyIds(user);
      if (keys.length > 0) {
        resources.push({
          resource: 'access-key',
          name: parameter,
          status: 'unchanged',
          id: keys[0] as string,
        });
      } else {
        const key = await services.iam.createAccessKey(user);
        await ssm.deleteManaged(parameter);
        await ssm.putSecret(parameter, JSON.stringify(key), `access key of ${user}`);
        resources.push({ resource: 'access-key', name: parameter, status: 'created', id: key.accessKeyId });
      }
    }

    // Key pair: the private key goes to SSM and nowhere else.
    const keyParameter = keyParameterName(user);
    const keyPair = await ec2.findKeyPair(name);
    const haveKey = await ssm.exists(keyParameter);
    if (keyPair && !keyPair.managed) {
      throw new InputError(
        'user',
        `key pair ${name} exists without the ${TAGS.managed} tag: not ours, left alone; choose another user name`,
      );
    }
    if (keyPair && haveKey) {
      const retagged = await repairOwnerTag(keyPair.id, keyPair.tags);
      resources.push({
        resource: 'key-pair',
        name,
        status: retagged ? 'fixed' : 'unchanged',
        id: keyPair.id,
        detail: `${retagged ? `${retagged}; ` : ''}private key in SSM ${keyParameter}`,
      });
    } else {
      if (keyPair) await ec2.deleteKeyPair(name);
      if (haveKey) await ssm.deleteManaged(keyParameter);
      const created = await ec2.createKeyPair(name, { ...MANAGED, [policy.tags.owner]: user });
      try {
        await ssm.putSecret(
          keyParameter,
          created.privateKey,
          `private key of EC2 key pair ${name} (ed25519)`,
        );
      } catch (err) {
        await ec2.deleteKeyPair(name);
        throw err;
      }
      resources.push({
        resource: 'key-pair',
        name,
        status: keyPair ? 'fixed' : 'created',
        id: created.id,
        detail: keyPair
          ? `replaced: its private key was missing from SSM ${keyParameter}`
          : `private key in SSM ${keyParameter}`,
      });
    }

    // Network: default VPC, security group with only the wanted ingress.
    const vpc = await ec2.defaultVpc();
    resources.push({
      resource: 'default-vpc',
      name: vpc.vpcId,
      id: vpc.vpcId,
      status: vpc.created ? 'created' : 'unchanged',
    });
    const wanted = wantedIngress(request);
    const description = `SSH for ${user} (cost-watchdog)`;
    let group = await ec2.findSecurityGroup(name, vpc.vpcId);
    if (group && !group.managed) {
      throw new InputError(
        'user',
        `security group ${name} exists without the ${TAGS.managed} tag: not ours, left alone`,
      );
    }
    if (!group) {
      const groupId = await ec2.createSecurityGroup(name, vpc.vpcId, description, {
        ...MANAGED,
        [policy.tags.owner]: user,
      });
      await ec2.authorize(groupId, wanted, description);
      group = {
        groupId,
        vpcId: vpc.vpcId,
        managed: true,
        ingress: wanted,
        tags: { ...MANAGED, [policy.tags.owner]: user },
      };
      resources.push({
        resource: 'security-group',
        name,
        id: groupId,
        status: 'created',
        detail: wanted.map(describeRule).join('; '),
      });
    } else {
      const retagged = await repairOwnerTag(group.groupId, group.tags);
      const key = (r: IngressRule) => describeRule(r);
      const have = new Set(group.ingress.map(key));
      const want = new Set(wanted.map(key));
      const extra = group.ingress.filter((r) => !want.has(key(r)));
      const missing = wanted.filter((r) => !have.has(key(r)));
      await ec2.revoke(group.groupId, extra);
      await ec2.authorize(group.groupId, missing, description);
      const notes = [
        ...extra.map(
          (r) =>
            `revoked ${describeRule(r)}${isWorldOpen(r.cidr ?? r.cidrIpv6 ?? '') ? ' (open to the whole internet)' : ''}`,
        ),
        ...missing.map((r) => `added ${describeRule(r)}`),
        ...(retagged ? [retagged] : []),
      ];
      resources.push({
        resource: 'security-group',
        name,
        id: group.groupId,
        status: notes.length > 0 ? 'fixed' : 'unchanged',
        ...(notes.length > 0
          ? { detail: notes.join('; ') }
          : { detail: wanted.map(describeRule).join('; ') }),
      });
    }

    // Launch template.
    const data = launchTemplateData(plan, user, group.groupId, policy.tags.owner);
    const summary = `${plan.instanceType}, ${plan.imageId}${plan.setup !== 'none' ? `, setup ${plan.setup} (JupyterLab on first boot)` : ''}`;
    const template = await ec2.findLaunchTemplate(name);
    if (template && !template.managed) {
      throw new InputError(
        'user',
        `launch template ${name} exists without the ${TAGS.managed} tag: not ours, left alone`,
      );
    }
    if (!template) {
      launchTemplateId = await ec2.createLaunchTemplate(name, data, {
        ...MANAGED,
        [policy.tags.owner]: user,
      });
      resources.push({
        resource: 'launch-template',
        name,
        id: launchTemplateId,
        status: 'created',
        detail: summary,
      });
    } else if (templateFingerprint(template.data) !== templateFingerprint(data)) {
      launchTemplateId = template.id;
      const retagged = await repairOwnerTag(template.id, template.tags);
      const version = await ec2.updateLaunchTemplate(template.id, data);
      resources.push({
        resource: 'launch-template',
        name,
        id: template.id,
        status: 'updated',
        detail: `version ${version}: ${summary}${retagged ? `; ${retagged}` : ''}`,
      });
    } else {
      launchTemplateId = template.id;
      const retagged = await repairOwnerTag(template.id, template.tags);
      resources.push({
        resource: 'launch-template',
        name,
        id: template.id,
        status: retagged ? 'fixed' : 'unchanged',
        detail: retagged ? `${retagged}; ${summary}` : summary,
      });
    }

    // Alerts about their own instances.
    if (services.subscriptions) {
      const change = await services.subscriptions.ensure(request.email, user);
      resources.push({
        resource: 'subscription',
        name: request.email,
        status: change === 'conflict' ? 'skipped' : change,
        ...(change === 'created' || change === 'pending'
          ? { detail: 'pending: the user must click the confirmation link AWS emails them' }
          : change === 'conflict'
            ? { detail: 'this email is already subscribed with another filter (the admin?); left as is' }
            : {}),
      });
    } else {
      resources.push({
        resource: 'subscription',
        name: request.email,
        status: 'skipped',
        detail: 'no alert topic given',
      });
    }

    return result(overall(resources), {
      keyParameter,
      launchTemplateId,
      instanceType: plan.instanceType,
      ...(plan.setup !== 'none' ? { setup: plan.setup } : {}),
      ...(plan.costWarning ? { costWarning: plan.costWarning } : {}),
      instructions: renderConnectionInstructions({
        user,
        region: plan.region,
        ownerTag: policy.tags.owner,
        instanceType: plan.instanceType,
        ...(request.notebookPort !== undefined ? { notebookPort: request.notebookPort } : {}),
        consoleLogin: options.consoleLogin === true && setup.iamSkipped === undefined,
        setup: plan.setup,
        ...(plan.costWarning ? { costWarning: plan.costWarning } : {}),
      }),
    });
  } catch (err) {
    return result('failed', {
      error: describeError(err),
      ...(launchTemplateId ? { launchTemplateId } : {}),
    });
  }
}

/** Progress of a roster run: called after each row. */
export type ProgressListener = (done: number, total: number, result: ProvisionResult) => void;

/**
 * Provisions every row of a roster (at most `concurrency` at once). Invalid rows fail on their own with
 * nothing created; one failing row never stops the others.
 */
export async function provisionRoster(
  rows: readonly RosterRow[],
  options: ProvisionOptions,
  onProgress?: ProgressListener,
  concurrency = 4,
): Promise<{ setup: ProvisionSetup; results: ProvisionResult[] }> {
  const setup = await prepareProvision(options);
  let done = 0;
  const results = await mapBounded(rows, concurrency, async (row) => {
    const result: ProvisionResult = row.ok
      ? await provisionUser(row.request, setup, options)
      : { user: row.user, region: options.homeRegion, status: 'failed', resources: [], error: row.error };
    done++;
    onProgress?.(done, rows.length, result);
    return result;
  });
  return { setup, results };
}

/** Result of removing one user's baseline. */
export interface DeprovisionResult {
  user: string;
  region: string;
  /** removed: everything gone; partial: something kept (see resources); refused: running instances. */
  status: 'removed' | 'partial' | 'refused' | 'failed';
  resources: ResourceOutcome[];
  error?: string;
}

/**
 * Removes what provision created for `user`, in reverse order: subscription, launch template, security
 * group, key pair and its SSM parameter, console password, access keys, the IAM user. Refuses while the user has
 * running instances unless `stopInstances` (which stops them; nothing is ever terminated). Deletes only
 * resources with the managed tag or the `/cost-watchdog/` path; the group stays for the others.
 */
export async function deprovisionUser(
  userName: string,
  options: {
    services: ProvisionServices;
    policy: Policy;
    region: string;
    stopInstances?: boolean;
    /** Leave IAM alone (lab accounts): the IAM user is not looked up or deleted. */
    skipIam?: boolean;
  },
): Promise<DeprovisionResult> {
  const user = parseUserName(userName);
  const { services, policy, region } = options;
  const ec2 = services.ec2(region);
  const ssm = services.ssm(region);
  const name = resourceName(user);
  const resources: ResourceOutcome[] = [];
  const done = (status: DeprovisionResult['status'], error?: string): DeprovisionResult => ({
    user,
    region,
    status,
    resources,
    ...(error ? { error } : {}),
  });
  try {
    const instances = await ec2.instancesOwnedBy(policy.tags.owner, user);
    const active = instances.filter((i) => i.state === 'running' || i.state === 'pending');
    if (active.length > 0) {
      const ids = active.map((i) => i.instanceId);
      if (!options.stopInstances) {
        resources.push({ resource: 'instances', name: ids.join(' '), status: 'kept', detail: 'running' });
        return done(
          'refused',
          `${user} has ${ids.length} running instance(s) (${ids.join(', ')}); stop them first or run again with --stop-instances (they are stopped, never terminated)`,
        );
      }
      const stopped = await ec2.stop(ids);
      const failed = stopped.filter((s) => !s.ok);
      if (failed.length > 0) {
        return done(
          'failed',
          `could not stop ${failed.map((f) => `${f.instanceId}: ${f.error}`).join('; ')}`,
        );
      }
      resources.push({
        resource: 'instances',
        name: ids.join(' '),
        status: 'updated',
        detail: 'stopped (not terminated)',
      });
    }

    if (services.subscriptions) {
      const email = await services.subscriptions.emailOf(user);
      const removed = email ? await services.subscriptions.remove(email, user) : false;
      resources.push({
        resource: 'subscription',
        name: email ?? '-',
        status: removed ? 'removed' : 'absent',
      });
    }

    const template = await ec2.findLaunchTemplate(name);
    if (template?.managed) {
      await ec2.deleteLaunchTemplate(template.id);
      resources.push({ resource: 'launch-template', name, id: template.id, status: 'removed' });
    } else {
      resources.push({
        resource: 'launch-template',
        name,
        status: template ? 'kept' : 'absent',
        ...(template ? { detail: 'not managed' } : {}),
      });
    }

    const vpcId = await ec2.findDefaultVpc();
    const group = vpcId ? await ec2.findSecurityGroup(name, vpcId) : undefined;
    if (group?.managed) {
      const deleted = await ec2.deleteSecurityGroup(group.groupId);
      const holders = instances.map((i) => i.instanceId);
      resources.push({
        resource: 'security-group',
        name,
        id: group.groupId,
        status: deleted ? 'removed' : 'kept',
        ...(deleted
          ? {}
          : {
              detail: `still in use by ${holders.join(', ') || 'an instance'}; run deprovision again once they are gone (they are never terminated here)`,
            }),
      });
    } else {
      resources.push({
        resource: 'security-group',
        name,
        status: group ? 'kept' : 'absent',
        ...(group ? { detail: 'not managed' } : {}),
      });
    }

    const keyPair = await ec2.findKeyPair(name);
    if (keyPair?.managed) {
      await ec2.deleteKeyPair(name);
      resources.push({ resource: 'key-pair', name, id: keyPair.id, status: 'removed' });
    } else {
      resources.push({
        resource: 'key-pair',
        name,
        status: keyPair ? 'kept' : 'absent',
        ...(keyPair ? { detail: 'not managed' } : {}),
      });
    }
    for (const [resource, parameter] of [
      ['key-pair', keyParameterName(user)],
      ['console-password', passwordParameterName(user)],
      ['access-key', `${NAMES.accessKeyParameterPrefix}${user}`],
    ] as const) {
      if (await ssm.deleteManaged(parameter))
        resources.push({ resource, name: parameter, status: 'removed' });
    }

    if (options.skipIam) {
      resources.push({ resource: 'user', name: user, status: 'skipped', detail: IAM_OFF_REASON });
    } else {
      try {
        const removedUser = await services.iam.deleteUser(user, NAMES.iamPath);
        resources.push({ resource: 'user', name: user, status: removedUser ? 'removed' : 'absent' });
      } catch (err) {
        if (!(err instanceof IamAccessDeniedError)) throw err;
        resources.push({ resource: 'user', name: user, status: 'skipped', detail: iamDeniedReason(err) });
      }
    }
    return done(resources.some((r) => r.status === 'kept') ? 'partial' : 'removed');
  } catch (err) {
    return done('failed', describeError(err));
  }
}
