/**
 * Names, tag keys and limits shared by the stack, the adapters, the jobs and the CLI. No imports and no work at
 * import: the Lambda handlers read them before they load anything else (src/handlers/sweep.ts loads the policy
 * schema only on its first invocation). src/core/policy.ts re-exports them: import them from there or from here.
 */

/**
 * Tag keys the watchdog reads and writes. The one place they are spelled out; adapters and handlers import
 * them from here. The exempt and owner keys can be renamed in the policy (`tags.exempt`, `tags.owner`).
 */
export const TAGS = {
  exempt: 'cost-watchdog:exempt',
  owner: 'Owner',
  warnedAt: 'cost-watchdog:warned-at',
  warnRule: 'cost-watchdog:warn-rule',
  stoppedAt: 'cost-watchdog:stopped-at',
  stopReason: 'cost-watchdog:stop-reason',
  /** Who stopped it: sweep, launch-guard, link (the owner's signed link) or deprovision. */
  stoppedBy: 'cost-watchdog:stopped-by',
  /** The rule the sweep stopped it for (e.g. quiet-hours): what quiet hours' morning start and its IAM read. */
  stopRule: 'cost-watchdog:stop-rule',
  /** When and by what the watchdog started it again (quiet hours' morning start only). */
  startedAt: 'cost-watchdog:started-at',
  startedBy: 'cost-watchdog:started-by',
  managed: 'cost-watchdog:managed',
  /**
   * A SageMaker notebook's last kernel / terminal activity (ISO time), written by the notebook itself through the
   * lifecycle configuration the watchdog offers (provision/notebook/on-start.sh): its idle evidence.
   */
  lastActivity: 'cost-watchdog:last-activity',
} as const;

/**
 * The kinds of resource the watchdog watches: EC2 instances, SageMaker notebook instances, RDS DB instances and
 * RDS (Aurora / Multi-AZ) DB clusters. A policy key that names kinds (quietHours.kinds) takes its values from here.
 */
export const RESOURCE_KINDS = ['ec2', 'sagemaker-notebook', 'rds-instance', 'rds-cluster'] as const;

/** A kind of watched resource. */
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * Tags AWS sets on the instances its services launch. The `aws:` prefix is reserved: no user can set, change or
 * remove these, so they are the only tags the watchdog trusts as "managed by another service".
 */
export const AWS_MANAGED_TAGS = {
  autoScalingGroup: 'aws:autoscaling:groupName',
  ec2Fleet: 'aws:ec2:fleet-id',
  spotFleet: 'aws:ec2spot:fleet-request-id',
  emrCluster: 'aws:elasticmapreduce:job-flow-id',
} as const;

/**
 * Prefixes of tags that say "managed by Kubernetes / EKS / Karpenter" but that anyone allowed to tag an instance can
 * set. They are never trusted as protection (the real managers also leave an AWS_MANAGED_TAGS tag or an
 * Operator); an instance carrying only these is judged like any other, and the reason says so.
 */
export const FORGEABLE_MANAGED_TAG_PREFIXES = [
  'eks:',
  'kubernetes.io/cluster/',
  'karpenter.sh/',
  'karpenter.k8s.aws/',
] as const;

/**
 * The same prefixes as IAM wildcards (`eks:*`, ...): the guardrail refuses them at launch and on CreateTags so a
 * student cannot even try to pass for a cluster node.
 */
export const FORGEABLE_MANAGED_TAGS = FORGEABLE_MANAGED_TAG_PREFIXES.map((prefix) => `${prefix}*`);

/** Names shared by the stack, the provisioning baseline and the CLI. */
export const NAMES = {
  service: 'cost-watchdog',
  iamPath: '/cost-watchdog/',
  usersGroup: 'cost-watchdog-users',
  resourcePrefix: 'cost-watchdog-',
  keyParameterPrefix: '/cost-watchdog/keys/',
  passwordParameterPrefix: '/cost-watchdog/passwords/',
  accessKeyParameterPrefix: '/cost-watchdog/access-keys/',
  /** SSM standard parameters with the month counters (instance-hours, dollars, per owner): src/aws/usage-store.ts. */
  usageParameterPrefix: '/cost-watchdog/usage/',
  /** SSM SecureString with the HMAC key that signs the action links in warnings (created by the sweep). */
  signingKeyParameter: '/cost-watchdog/signing-key',
  /** SSM standard parameters, one per fanned-out run, claimed by its first invocation: src/aws/run-claims.ts. */
  runParameterPrefix: '/cost-watchdog/runs/',
  /**
   * The IAM role and instance profile (both this name, path iamPath) of `provision --setup gpu` instances: the
   * CloudWatch agent may publish into CWAgent and nothing else (resources/gpu-metrics-role.yml). The gpu launch
   * template names the profile, and it is the one role the students' guardrail lets them pass (to EC2 only).
   */
  gpuMetricsRole: 'cost-watchdog-gpu-metrics',
} as const;

/** Shortest action-link signing key accepted (bytes of the decoded key text). */
export const MIN_KEY_BYTES = 32;
