/**
 * What a user's launch template will be, worked out and checked before any resource is created for the user:
 * region, type, image, root volume, first-boot setup, and the plain-words cost warning when it is not free tier.
 */
import { IamAccessDeniedError, type IamAdapter } from '../../aws/provisioning/iam.js';
import { deepLearningParameter, al2023Parameter } from '../../aws/provisioning/ssm.js';
import { InputError, printable } from '../../core/errors.js';
import {
  DEFAULT_GPU_TYPE,
  type MachineSetup,
  notFreeTierWarning,
} from '../../core/provisioning/machine-setup.js';
import type { UserRequest } from '../../core/provisioning/roster.js';
import { NAMES, type Policy } from '../../core/policy.js';
import type { ProvisionServices } from './services.js';

/** Largest root volume a launch template gets: the EBS free allowance is 30 GiB a month in all. */
export const MAX_ROOT_GIB = 30;
/** Root volume size when the image needs less: room for three instances within the free 30 GiB. */
export const DEFAULT_ROOT_GIB = 8;

/** The launch template of one user, checked. */
export interface MachineSpec {
  region: string;
  instanceType: string;
  imageId: string;
  rootDevice: { deviceName: string; sizeGiB: number };
  setup: MachineSetup;
  /** The type has CPU credits (t2/t3/t3a/t4g): the template pins them to standard. */
  burstable: boolean;
  /** Plain words when the template is not free tier. */
  costWarning?: string;
  /**
   * setup gpu: the instance profile the template names, so that the CloudWatch agent may publish GPU use (the
   * stack's NAMES.gpuMetricsRole). Absent for the other setups, and for gpu when the account has none.
   */
  instanceProfile?: string;
  /** setup gpu without that instance profile: why the GPU will not be measured (the template is still made). */
  gpuUnmeasured?: string;
}

/** The GPU metrics instance profile to put in a gpu template, or why there is none to use. */
export type GpuMetricsProfile = { name: string } | { unavailable: string };

/**
 * The stack's GPU metrics instance profile (NAMES.gpuMetricsRole, resources/gpu-metrics-role.yml), when this
 * account has it as the stack makes it: under /cost-watchdog/ and holding the role of the same name, the one role
 * the students' guardrail lets them pass. Otherwise why not (a launch naming a missing or different profile would
 * fail, so such a template gets none). Reads only.
 */
export async function gpuMetricsProfile(iam: IamAdapter): Promise<GpuMetricsProfile> {
  const name = NAMES.gpuMetricsRole;
  let profile: Awaited<ReturnType<IamAdapter['findInstanceProfile']>>;
  try {
    profile = await iam.findInstanceProfile(name);
  } catch (err) {
    if (err instanceof IamAccessDeniedError) {
      return { unavailable: `instance profile ${name} cannot be read (${err.message})` };
    }
    throw err;
  }
  if (!profile) {
    return {
      unavailable: `no instance profile ${name} in this account (the stack creates it; not with --param roleArn)`,
    };
  }
  const role = `:role${NAMES.iamPath}${name}`;
  if (profile.path !== NAMES.iamPath || !profile.roleArns.some((arn) => arn.endsWith(role))) {
    return {
      unavailable: `instance profile ${name} is not the stack's (path "${printable(profile.path)}", roles ${profile.roleArns.map((a) => `"${printable(a)}"`).join(', ') || 'none'}): students may pass only the role ${NAMES.iamPath}${name}; delete that instance profile and deploy the stack, which creates it`,
    };
  }
  return { name };
}

/** What the run's guardrail allows (from prepareProvision). */
export interface Allowed {
  allowedTypes: string[];
  allowedRegions: string[];
  maxVolumeGiB: number;
  /** Set when IAM is skipped: there is then no guardrail to fit and no IAM user to check. */
  iamSkipped?: string;
}

/**
 * The root volume (GiB) of the gpu setup's template in `region` when a GPU type is allowed (the Deep Learning
 * AMI's root is larger than the free 30 GiB); 0 when no allowed type has a GPU or the AMI is not published there.
 */
export async function gpuTemplateRootGiB(
  services: ProvisionServices,
  policy: Policy,
  region: string,
): Promise<number> {
  const ec2 = services.ec2(region);
  const architectures = new Set<string>();
  for (const type of policy.nonFreeTier.allowedTypes) {
    const facts = await ec2.typeFacts(type);
    if (facts && facts.gpus > 0) architectures.add(facts.architecture);
  }
  let largest = 0;
  for (const architecture of architectures) {
    const imageId = await services.ssm(region).find(deepLearningParameter(architecture));
    if (imageId === undefined) continue;
    largest = Math.max(largest, DEFAULT_ROOT_GIB, (await ec2.rootDevice(imageId)).sizeGiB);
  }
  return largest;
}

/**
 * Checks a user's request against the account and the guardrail (region, type, GPU, image size, an IAM user of
 * the same name outside /cost-watchdog/) and works out their launch template. Reads only; throws an InputError
 * naming the field and the fix.
 */
export async function resolveMachine(
  request: UserRequest,
  allowed: Allowed,
  services: ProvisionServices,
  homeRegion: string,
): Promise<MachineSpec> {
  const region = request.region ?? homeRegion;
  if (!allowed.allowedRegions.includes(region)) {
    throw new InputError(
      'region',
      `${region} is not an allowed region (allowed: ${allowed.allowedRegions.join(', ')}; set regions in watchdog.yml to allow more)`,
    );
  }
  const ec2 = services.ec2(region);
  const setupName: MachineSetup = request.setup ?? 'none';
  let instanceType = request.instanceType ?? (setupName === 'gpu' ? DEFAULT_GPU_TYPE : undefined);
  if (instanceType === undefined) {
    const free = (await ec2.freeTierTypes()).filter((t) => allowed.allowedTypes.includes(t));
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
  if (!allowed.allowedTypes.includes(instanceType)) {
    throw new InputError(
      'type',
      `${instanceType} is not allowed (allowed: ${allowed.allowedTypes.join(', ')}); add it to nonFreeTier.allowedTypes in watchdog.yml to allow it`,
    );
  }
  if (setupName === 'gpu' && facts.gpus === 0) {
    throw new InputError(
      'type',
      `${instanceType} has no GPU, but setup gpu needs one; leave the type out (default ${DEFAULT_GPU_TYPE}) or use setup datascience`,
    );
  }
  if (allowed.iamSkipped === undefined) {
    const existing = await services.iam.getUser(request.user);
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
  const imageId = await services.ssm(region).read(parameter);
  const rootDevice = await ec2.rootDevice(imageId);
  if (setupName !== 'gpu' && rootDevice.sizeGiB > MAX_ROOT_GIB) {
    throw new InputError(
      'type',
      `the Amazon Linux image ${imageId} needs ${rootDevice.sizeGiB} GiB, over the free ${MAX_ROOT_GIB} GiB`,
    );
  }
  const rootGiB = Math.max(DEFAULT_ROOT_GIB, rootDevice.sizeGiB);
  // Without IAM (lab accounts) there is no guardrail to fit.
  if (allowed.iamSkipped === undefined && rootGiB > allowed.maxVolumeGiB) {
    throw new InputError(
      'setup',
      `the launch template would get a ${rootGiB} GiB root volume (image ${imageId} in ${region}), over the guardrail's ${allowed.maxVolumeGiB} GiB, so the student could not launch it; raise guardrail.maxVolumeGiB in watchdog.yml to at least ${rootGiB}`,
    );
  }
  const metrics = setupName === 'gpu' ? await gpuMetricsProfile(services.iam) : undefined;
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
    ...(metrics && 'name' in metrics ? { instanceProfile: metrics.name } : {}),
    ...(metrics && 'unavailable' in metrics ? { gpuUnmeasured: metrics.unavailable } : {}),
  };
}
