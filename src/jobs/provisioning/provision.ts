/**
 * provision: each user's baseline as a sequence of ensure-steps (one per resource, in the files beside this one),
 * run for real or as a dry run (`dryRun`: every step only reads and says what it would do).
 */
import { mapBounded } from '../../aws/clients.js';
import { IamAccessDeniedError } from '../../aws/provisioning/iam.js';
import { ConfigError, describeError } from '../../core/errors.js';
import {
  GUARDRAIL_POLICY_NAME,
  type Guardrail,
  guardrailPolicies,
  IAM_POLICY_LIMITS,
  LAUNCH_LIMITS_POLICY_NAME,
  policySize,
} from '../../core/provisioning/guardrail.js';
import {
  type HandoutFacts,
  renderHandout,
  type StudentAccess,
  signInUrl,
} from '../../core/provisioning/handout.js';
import type { MachineSetup } from '../../core/provisioning/machine-setup.js';
import type { ResourceOutcome, StepMode } from '../../core/provisioning/outcome.js';
import { NAMES, type Policy } from '../../core/policy.js';
import { keyParameterName, type RosterRow, type UserRequest } from '../../core/provisioning/roster.js';
import { ensureGuardrailGroup } from './guardrail-group-step.js';
import {
  credentialsOf,
  ensureAccessKey,
  ensureConsolePassword,
  ensureMembership,
  ensureUser,
} from './iam-user-steps.js';
import { ensureKeyPair } from './key-pair-step.js';
import { ensureLaunchTemplate } from './launch-template-step.js';
import { gpuTemplateRootGiB, type MachineSpec, resolveMachine } from './machine-spec.js';
import { ensureDefaultVpc, ensureSecurityGroup } from './network-steps.js';
import type { ProvisionServices } from './services.js';
import { outcome, type UserStep, userStep } from './steps.js';
import { ensureSubscription } from './subscription-step.js';

/** Options of a provisioning run. */
export interface ProvisionOptions {
  services: ProvisionServices;
  policy: Policy;
  /** Region of users that name none; also where the free-tier types for the guardrail are looked up. */
  homeRegion: string;
  /** Give each user a console password (must be reset at first sign-in), stored in SSM. */
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
  /** Change nothing: read the account and report what a real run would do (every outcome `planned`). */
  dryRun?: boolean;
}

/** The result for one user: never contains a private key, password or secret access key. */
export interface ProvisionResult {
  user: string;
  region: string;
  /** created: something new; updated: something changed or was repaired; unchanged: nothing to do. */
  status: 'created' | 'updated' | 'unchanged' | 'failed';
  resources: ResourceOutcome[];
  /** A dry run: nothing was changed; the statuses say what a real run would do. */
  dryRun?: true;
  keyParameter?: string;
  launchTemplateId?: string;
  instanceType?: string;
  /** What the launch template's instances are ready for on first boot (absent: plain Amazon Linux). */
  setup?: Exclude<MachineSetup, 'none'>;
  /** Plain words when the launch template is not free tier (GPU types, big volumes). */
  costWarning?: string;
  /** How the student signs in: a console password, an access key, both, neither, or the lab's role. */
  access?: StudentAccess;
  /** The student handout (renderHandout): how to sign in, launch, connect, and what the watchdog does. */
  instructions?: string;
  error?: string;
}

/** The once-per-run part: what the guardrail allows, the group carrying it, the students' sign-in URL. */
export interface ProvisionSetup {
  allowedTypes: string[];
  allowedRegions: string[];
  /** Largest EBS volume (GiB) the guardrail lets a student launch; every template provision makes fits. */
  maxVolumeGiB: number;
  guardrail: Guardrail;
  group: ResourceOutcome;
  /** Why IAM (group, users, passwords, access keys) is skipped in this run; absent when it is not. */
  iamSkipped?: string;
  /** The console sign-in URL of IAM users (account alias, else account id); absent when it could not be found. */
  signInUrl?: string;
}

/** Why IAM is skipped when the caller turned it off. */
export const IAM_OFF_REASON =
  "IAM turned off for this run (--no-iam); students use the account's own role, as in lab accounts";

/** Why IAM is skipped after a denied call: the denial and what it means. */
export function iamDeniedReason(err: IamAccessDeniedError): string {
  return `${err.message}: lab accounts forbid IAM users; students use the lab's own role`;
}

function modeOf(options: { dryRun?: boolean }): StepMode {
  return options.dryRun ? 'plan' : 'apply';
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

/** The sign-in URL of the account's IAM users, or undefined when the account cannot be looked up. */
async function lookUpSignInUrl(services: ProvisionServices): Promise<string | undefined> {
  if (!services.account) return undefined;
  try {
    const account = await services.account.withAlias();
    return signInUrl(account.alias ?? account.accountId, account.partition);
  } catch {
    return undefined;
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
  const mode = modeOf(options);
  const allowedRegions = policy.regions === 'all' ? [homeRegion] : [...policy.regions];
  const freeTier = await services.ec2(homeRegion).freeTierTypes();
  const allowedTypes = [...new Set([...freeTier, ...policy.nonFreeTier.allowedTypes])];
  if (allowedTypes.length === 0) {
    throw new ConfigError(
      `no instance type is allowed: EC2 lists no FreeTierEligible type in ${homeRegion} for this account and the policy's nonFreeTier.allowedTypes is empty; add the types students may use to nonFreeTier.allowedTypes in watchdog.yml`,
    );
  }
  const maxVolumeGiB = Math.max(
    policy.guardrail.maxVolumeGiB,
    await gpuTemplateRootGiB(services, policy, homeRegion),
  );
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
  const summary = `guardrail: types ${allowedTypes.join(', ')}; regions ${allowedRegions.join(', ')}; volumes up to ${maxVolumeGiB} GiB`;
  const base = { allowedTypes, allowedRegions, maxVolumeGiB, guardrail };
  let iamSkipped = options.skipIam ? IAM_OFF_REASON : undefined;
  let group: ResourceOutcome | undefined;
  if (iamSkipped === undefined) {
    try {
      group = await ensureGuardrailGroup(services, guardrail, mode, summary);
    } catch (err) {
      if (!(err instanceof IamAccessDeniedError)) throw err;
      iamSkipped = iamDeniedReason(err);
    }
  }
  if (iamSkipped !== undefined || group === undefined) {
    const reason = iamSkipped ?? IAM_OFF_REASON;
    return {
      ...base,
      group: outcome(
        { mode },
        { resource: 'group', name: NAMES.usersGroup, status: 'skipped', detail: reason },
      ),
      iamSkipped: reason,
    };
  }
  const url = await lookUpSignInUrl(services);
  return { ...base, group, ...(url ? { signInUrl: url } : {}) };
}

function overall(resources: ResourceOutcome[]): ProvisionResult['status'] {
  if (resources.some((r) => r.status === 'created')) return 'created';
  if (resources.some((r) => r.status === 'updated' || r.status === 'repaired')) return 'updated';
  return 'unchanged';
}

/** The handout's facts for one user from the run's outcomes. */
function handoutFacts(
  request: UserRequest,
  spec: MachineSpec,
  setup: ProvisionSetup,
  options: ProvisionOptions,
  access: { consolePassword: boolean; accessKey: boolean },
  subscription: ResourceOutcome,
): HandoutFacts {
  const lab = setup.iamSkipped !== undefined;
  const alerts =
    subscription.status === 'created' || subscription.status === 'pending'
      ? 'pending'
      : options.services.subscriptions
        ? 'subscribed'
        : 'none';
  return {
    user: request.user,
    region: spec.region,
    ownerTag: options.policy.tags.owner,
    instanceType: spec.instanceType,
    access: {
      kind: lab ? 'lab' : 'iam',
      consolePassword: !lab && access.consolePassword,
      accessKey: !lab && access.accessKey,
    },
    ...(setup.signInUrl ? { signInUrl: setup.signInUrl } : {}),
    alerts: { email: request.email, state: alerts },
    policy: options.policy,
    ...(request.notebookPort !== undefined ? { notebookPort: request.notebookPort } : {}),
    setup: spec.setup,
    ...(spec.costWarning ? { costWarning: spec.costWarning } : {}),
  };
}

/**
 * The IAM steps of one user (user, group membership, optional password and access key), or their `skipped`
 * outcomes when IAM is skipped, each added to `outcomes` as it is done. Returns what the user has to sign in with,
 * counting what earlier runs gave them.
 */
async function iamSteps(
  step: UserStep,
  setup: ProvisionSetup,
  options: ProvisionOptions,
  outcomes: ResourceOutcome[],
): Promise<{ consolePassword: boolean; accessKey: boolean }> {
  const access = { consolePassword: options.consoleLogin === true, accessKey: options.accessKey === true };
  if (setup.iamSkipped !== undefined) {
    // Lab accounts: no IAM user, group, password or access key; everything else still happens.
    const skipped = (resource: ResourceOutcome['resource'], detail: string) =>
      outcomes.push(outcome(step, { resource, name: step.user, status: 'skipped', detail }));
    skipped('user', `IAM user and group: ${setup.iamSkipped}`);
    if (options.consoleLogin) skipped('console-password', 'no IAM user');
    if (options.accessKey) skipped('access-key', 'no IAM user');
    return access;
  }
  const user = await ensureUser(step);
  outcomes.push(user.outcome, await ensureMembership(step, user.exists));
  if (options.consoleLogin)
    outcomes.push(await ensureConsolePassword(step, user.exists, options.generatePassword));
  if (options.accessKey) outcomes.push(await ensureAccessKey(step, user.exists));
  // What an earlier run gave them still counts for the handout.
  if (user.existed && !(access.consolePassword && access.accessKey)) {
    const had = await credentialsOf(step);
    access.consolePassword ||= had.consolePassword;
    access.accessKey ||= had.accessKey;
  }
  return access;
}

/**
 * Provisions one user idempotently: IAM user in the group, optional console password and access key, key
 * pair (private key only to SSM), default VPC, security group, launch template, alert subscription; and the
 * student handout. Every input and name check runs before anything is created. A second run with the same input
 * reports `unchanged`; a security group rule someone added is revoked and reported as `repaired`. With
 * `dryRun` nothing is written. Errors become a `failed` result.
 */
export async function provisionUser(
  request: UserRequest,
  setup: ProvisionSetup,
  options: ProvisionOptions,
): Promise<ProvisionResult> {
  const { services, policy } = options;
  const mode = modeOf(options);
  const resources: ResourceOutcome[] = [];
  const result = (status: ProvisionResult['status'], extra: Partial<ProvisionResult>): ProvisionResult => ({
    user: request.user,
    region: request.region ?? options.homeRegion,
    status,
    resources,
    ...(options.dryRun ? { dryRun: true as const } : {}),
    ...extra,
  });
  let spec: MachineSpec;
  try {
    spec = await resolveMachine(request, setup, services, options.homeRegion);
  } catch (err) {
    return result('failed', { error: describeError(err) });
  }
  const step = userStep(mode, request.user, spec.region, services, policy.tags.owner);
  let launchTemplateId: string | undefined;
  try {
    const access = await iamSteps(step, setup, options, resources);
    resources.push(await ensureKeyPair(step));
    const vpc = await ensureDefaultVpc(step);
    resources.push(vpc.outcome);
    const group = await ensureSecurityGroup(step, request, vpc.vpcId);
    resources.push(group.outcome);
    const template = await ensureLaunchTemplate(step, spec, group.groupId);
    resources.push(template.outcome);
    launchTemplateId = template.templateId;
    const subscription = await ensureSubscription(step, request.email);
    resources.push(subscription);

    const facts = handoutFacts(request, spec, setup, options, access, subscription);
    return result(overall(resources), {
      keyParameter: keyParameterName(request.user),
      ...(launchTemplateId ? { launchTemplateId } : {}),
      instanceType: spec.instanceType,
      ...(spec.setup !== 'none' ? { setup: spec.setup } : {}),
      ...(spec.costWarning ? { costWarning: spec.costWarning } : {}),
      access: facts.access,
      instructions: renderHandout(facts),
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
      : {
          user: row.user,
          region: options.homeRegion,
          status: 'failed',
          resources: [],
          ...(options.dryRun ? { dryRun: true as const } : {}),
          error: row.error,
        };
    done++;
    onProgress?.(done, rows.length, result);
    return result;
  });
  return { setup, results };
}
