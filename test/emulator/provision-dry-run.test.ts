/**
 * provision --dry-run and deprovision --dry-run (and the handler's "dryRun": true) against the emulator: the account
 * is listed before and after (IAM users, groups, policies, login profiles, access keys; key pairs, security groups,
 * launch templates, instances; SSM parameters; SNS subscriptions) and found identical, no file is written, and the
 * plan is exact: a real run right after reports the same status for every resource.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import {
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetLoginProfileCommand,
  GetPolicyVersionCommand,
  ListAccessKeysCommand,
  ListAttachedGroupPoliciesCommand,
  ListGroupPoliciesCommand,
  ListGroupsCommand,
  ListPoliciesCommand,
  ListPolicyVersionsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand } from '@aws-sdk/client-sns';
import { DeleteParameterCommand, DescribeParametersCommand } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { ResourceOutcome } from '../../src/core/provisioning/outcome.js';
import { createProvisionHandler } from '../../src/handlers/provision.js';
import type { DeprovisionResult } from '../../src/jobs/provisioning/deprovision.js';
import type { ProvisionResult } from '../../src/jobs/provisioning/provision.js';
import { clients, createTopic, DEFAULT_REGION, resetEmulator, seedInstances } from './support.js';

const REGION = DEFAULT_REGION;
const dir = mkdtempSync(join(tmpdir(), 'cost-watchdog-dry-run-'));
const POLICY_FILE = join(dir, 'watchdog.yml');
writeFileSync(POLICY_FILE, 'regions: [us-east-1]\n');
const ALICE = { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32', notebookPort: 8888 };
const BOB = { user: 'bob', email: 'bob@example.edu', cidr: '198.51.100.0/24' };

let topicArn: string;

function handler() {
  return createProvisionHandler({
    env: { ...process.env, AWS_REGION: REGION, TOPIC_ARN: topicArn, POLICY_FILE },
    log: () => {},
  });
}

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => out.push(t),
    err: (t: string) => err.push(t),
    env: { ...process.env, AWS_REGION: REGION },
  };
  return { io, out, err, text: () => [...out, ...err].join('\n') };
}

const tagsOf = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  (tags ?? []).map((t) => `${t.Key}=${t.Value}`).sort();

/** Everything provision and deprovision could change, as the emulator lists it. */
async function listAccount(): Promise<unknown> {
  const { iam, ec2, ssm, sns } = clients(REGION);
  const users = (await iam.send(new ListUsersCommand({}))).Users ?? [];
  const iamUsers = [];
  for (const u of users) {
    const name = u.UserName ?? '';
    const login = await iam
      .send(new GetLoginProfileCommand({ UserName: name }))
      .then(() => true)
      .catch(() => false);
    const keys = (await iam.send(new ListAccessKeysCommand({ UserName: name }))).AccessKeyMetadata ?? [];
    iamUsers.push({ name, path: u.Path, login, keys: keys.map((k) => k.AccessKeyId) });
  }
  const groups = [];
  for (const g of (await iam.send(new ListGroupsCommand({}))).Groups ?? []) {
    const name = g.GroupName ?? '';
    const members = (await iam.send(new GetGroupCommand({ GroupName: name }))).Users?.map((u) => u.UserName);
    const inline = [];
    for (const p of (await iam.send(new ListGroupPoliciesCommand({ GroupName: name }))).PolicyNames ?? []) {
      inline.push(
        (await iam.send(new GetGroupPolicyCommand({ GroupName: name, PolicyName: p }))).PolicyDocument,
      );
    }
    const attached = (await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: name })))
      .AttachedPolicies;
    groups.push({ name, path: g.Path, members, inline, attached: attached?.map((a) => a.PolicyArn) });
  }
  const policies = [];
  for (const p of (await iam.send(new ListPoliciesCommand({ Scope: 'Local' }))).Policies ?? []) {
    const versions = (await iam.send(new ListPolicyVersionsCommand({ PolicyArn: p.Arn }))).Versions ?? [];
    const current = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn: p.Arn, VersionId: p.DefaultVersionId }),
    );
    policies.push({ arn: p.Arn, versions: versions.length, document: current.PolicyVersion?.Document });
  }
  const keyPairs = ((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).map((k) => ({
    name: k.KeyName,
    id: k.KeyPairId,
    tags: tagsOf(k.Tags),
  }));
  const securityGroups = ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).map(
    (g) => ({ id: g.GroupId, name: g.GroupName, ingress: g.IpPermissions, tags: tagsOf(g.Tags) }),
  );
  const templates = [];
  for (const t of (await ec2.send(new DescribeLaunchTemplatesCommand({}))).LaunchTemplates ?? []) {
    const versions = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: t.LaunchTemplateId }),
    );
    templates.push({
      name: t.LaunchTemplateName,
      id: t.LaunchTemplateId,
      default: t.DefaultVersionNumber,
      versions: versions.LaunchTemplateVersions?.length,
      tags: tagsOf(t.Tags),
    });
  }
  const vpcs = ((await ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? []).map((v) => [v.VpcId, v.IsDefault]);
  const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) =>
    (r.Instances ?? []).map((i) => ({ id: i.InstanceId, state: i.State?.Name, tags: tagsOf(i.Tags) })),
  );
  // AWS's public parameters (/aws/service/...) are not the account's: moto lists them once something read one.
  const parameters = ((await ssm.send(new DescribeParametersCommand({}))).Parameters ?? [])
    .filter((p) => !p.Name?.startsWith('/aws/service/'))
    .map((p) => ({ name: p.Name, version: p.Version }));
  const subscriptions = [];
  for (const s of (await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn })))
    .Subscriptions ?? []) {
    const attributes = s.SubscriptionArn?.startsWith('arn:')
      ? (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn })))
          .Attributes
      : undefined;
    subscriptions.push({ endpoint: s.Endpoint, arn: s.SubscriptionArn, filter: attributes?.FilterPolicy });
  }
  return {
    iamUsers,
    groups,
    policies,
    keyPairs,
    securityGroups,
    templates,
    vpcs,
    instances,
    parameters,
    subscriptions,
  };
}

/** What each resource did (or would do): the plan and the real run are compared on this. */
const statuses = (resources: readonly ResourceOutcome[]) => resources.map((r) => `${r.resource} ${r.status}`);

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

describe('provision --dry-run against the emulator', () => {
  it('changes nothing in a fresh account, writes no file, and plans exactly what the real run then does', async () => {
    // Prepare
    const roster = join(dir, 'fresh.csv');
    writeFileSync(
      roster,
      'user,email,cidr,notebook_port\nalice,alice@example.edu,203.0.113.7/32,8888\nbob,bob@example.edu,198.51.100.0/24,\n',
    );
    const results = join(dir, 'fresh-results.csv');
    const keyDir = join(dir, 'fresh-keys');
    const flags = [
      '--roster',
      roster,
      '--results',
      results,
      '--key-dir',
      keyDir,
      '--console-login',
      '--access-key',
    ];
    const common = ['--topic-arn', topicArn, '--policy', POLICY_FILE];
    const before = await listAccount();
    const run = cli();

    // Act
    const code = await main(['provision', ...flags, ...common, '--dry-run', '--json'], run.io);

    // Assess: nothing changed, nothing written
    expect(code).toBe(0);
    expect(await listAccount()).toEqual(before);
    expect(existsSync(results)).toBe(false);
    expect(existsSync(keyDir)).toBe(false);
    expect(existsSync(join(dir, 'fresh-handouts'))).toBe(false);
    const plan = JSON.parse(run.out.join('\n')) as {
      dryRun: boolean;
      group: ResourceOutcome;
      results: ProvisionResult[];
    };
    expect(plan.dryRun).toBe(true);
    expect(plan.group).toMatchObject({ status: 'created', planned: true });
    const alice = plan.results.find((r) => r.user === 'alice');
    expect(alice).toMatchObject({ status: 'created', dryRun: true });
    expect(alice?.resources.every((r) => r.planned === true)).toBe(true);
    expect(statuses(alice?.resources ?? [])).toEqual([
      'user created',
      'group-membership created',
      'console-password created',
      'access-key created',
      'key-pair created',
      'default-vpc unchanged',
      'security-group created',
      'launch-template created',
      'subscription created',
    ]);
    expect(alice?.instructions).toContain(
      'Console: sign in at https://123456789012.signin.aws.amazon.com/console',
    );

    // The real run does what the plan said, resource by resource.
    const real = cli();
    expect(await main(['provision', ...flags, ...common, '--json'], real.io)).toBe(0);
    const done = (JSON.parse(real.out.join('\n')) as { results: ProvisionResult[] }).results;
    for (const user of ['alice', 'bob']) {
      expect(statuses(done.find((r) => r.user === user)?.resources ?? [])).toEqual(
        statuses(plan.results.find((r) => r.user === user)?.resources ?? []),
      );
    }
    expect(existsSync(join(dir, 'fresh-handouts', 'alice.txt'))).toBe(true);
  });

  it('plans the repairs of a half-provisioned account, changes nothing, and the real run makes exactly those', async () => {
    // Prepare: alice provisioned, then changed by hand; bob not provisioned yet
    const { ec2, ssm } = clients(REGION);
    const first = (await handler()({ users: [ALICE] })).results[0] as ProvisionResult;
    const groupId = first.resources.find((r) => r.resource === 'security-group')?.id ?? '';
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    await ec2.send(new DeleteTagsCommand({ Resources: [groupId], Tags: [{ Key: 'Owner' }] }));
    await ssm.send(new DeleteParameterCommand({ Name: '/cost-watchdog/keys/alice' }));
    const before = await listAccount();

    // Act
    const planned = await handler()({ users: [ALICE, BOB], dryRun: true });

    // Assess: nothing changed
    expect(await listAccount()).toEqual(before);
    expect(planned.dryRun).toBe(true);
    const [alice, bob] = planned.results as ProvisionResult[];
    expect(alice?.status).toBe('updated');
    expect(alice?.resources.find((r) => r.resource === 'security-group')).toMatchObject({
      status: 'repaired',
      planned: true,
      detail: 'revoke tcp 22 from 0.0.0.0/0 (open to the whole internet); tag Owner=alice (was missing)',
    });
    expect(alice?.resources.find((r) => r.resource === 'key-pair')).toMatchObject({
      status: 'repaired',
      planned: true,
      detail: 'replace: its private key was missing from SSM /cost-watchdog/keys/alice',
    });
    expect(statuses(alice?.resources ?? []).filter((s) => !s.endsWith('unchanged'))).toEqual([
      'key-pair repaired',
      'security-group repaired',
    ]);
    expect(bob?.status).toBe('created');

    // The real run makes exactly the planned changes.
    const real = await handler()({ users: [ALICE, BOB] });
    expect(real.results.map((r) => statuses(r.resources))).toEqual(
      planned.results.map((r) => statuses(r.resources)),
    );
    expect(
      (real.results[0] as ProvisionResult).resources.find((r) => r.resource === 'security-group')?.detail,
    ).toBe('revoked tcp 22 from 0.0.0.0/0 (open to the whole internet); tagged Owner=alice (was missing)');
  });

  it('--user --dry-run prints the plan per resource and the handout, and writes no key file', async () => {
    // Prepare
    const keyFile = join(dir, 'alice-dry.pem');
    const before = await listAccount();
    const run = cli();

    // Act
    const code = await main(
      [
        'provision',
        '--user',
        'alice',
        '--email',
        'alice@example.edu',
        '--cidr',
        '203.0.113.7/32',
        '--key-file',
        keyFile,
        '--topic-arn',
        topicArn,
        '--policy',
        POLICY_FILE,
        '--dry-run',
      ],
      run.io,
    );

    // Assess
    expect(code).toBe(0);
    expect(await listAccount()).toEqual(before);
    expect(existsSync(keyFile)).toBe(false);
    const text = run.text();
    expect(text).toContain('alice (us-east-1): would be created');
    expect(text).toMatch(
      / {2}security-group {4}would create cost-watchdog-alice: tcp 22 from 203\.0\.113\.7\/32/,
    );
    expect(text).toContain('AWS handout for alice (t3.micro in us-east-1)');
    expect(text).toContain('Dry run: nothing was changed');
  });
});

describe('deprovision --dry-run against the emulator', () => {
  it('changes nothing (the running instance keeps running) and plans exactly what the real run then does', async () => {
    // Prepare
    await handler()({ users: [ALICE], consoleLogin: true });
    const [instanceId] = await seedInstances(REGION, { tags: { Owner: 'alice' } });
    const before = await listAccount();
    const dry = cli();

    // Act
    const code = await main(
      ['deprovision', 'alice', '--stop-instances', '--topic-arn', topicArn, '--dry-run', '--json'],
      dry.io,
    );

    // Assess: nothing changed
    expect(code).toBe(0);
    expect(await listAccount()).toEqual(before);
    const plan = JSON.parse(dry.out.join('\n')) as DeprovisionResult;
    expect(plan).toMatchObject({ status: 'removed', dryRun: true });
    expect(statuses(plan.resources)).toEqual([
      'instances updated',
      'subscription deleted',
      'launch-template deleted',
      'security-group deleted',
      'key-pair deleted',
      'key-pair deleted',
      'console-password deleted',
      'user deleted',
    ]);
    expect(plan.resources.find((r) => r.resource === 'user')?.detail).toBe(
      'with its console password, membership of cost-watchdog-users',
    );

    // The real run does it, and records on the instance that deprovision stopped it
    const real = cli();
    await main(['deprovision', 'alice', '--stop-instances', '--topic-arn', topicArn, '--json'], real.io);
    const done = JSON.parse(real.out.join('\n')) as DeprovisionResult;
    expect(statuses(done.resources)).toEqual(statuses(plan.resources));
    const instance = (
      await clients(REGION).ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId ?? ''] }))
    ).Reservations?.[0]?.Instances?.[0];
    expect(instance?.State?.Name).toMatch(/stopping|stopped/);
    expect(tagsOf(instance?.Tags)).toEqual(
      expect.arrayContaining([
        'cost-watchdog:stopped-by=deprovision',
        'cost-watchdog:stop-reason=deprovision: the set-up of alice was removed by the instructor',
      ]),
    );
  });

  it('plans a refusal while the user has a running instance and no --stop-instances, changing nothing', async () => {
    // Prepare
    await handler()({ users: [ALICE] });
    await seedInstances(REGION, { tags: { Owner: 'alice' } });
    const before = await listAccount();

    // Act
    const res = await handler()({ action: 'deprovision', user: 'alice', dryRun: true });

    // Assess
    expect(await listAccount()).toEqual(before);
    expect(res.results[0]).toMatchObject({ status: 'refused', dryRun: true });
    expect(res.results[0]?.resources).toEqual([
      expect.objectContaining({ resource: 'instances', status: 'kept', planned: true }),
    ]);
  });
});
