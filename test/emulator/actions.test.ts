/**
 * The actions function against moto: links a real sweep put in a real (emulated) SNS message, the key the
 * sweep created in SSM, and each action's effect on the instance. The clock is injected; moto launches "now".
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/aws/clients.js';
import { sdkSweepServices } from '../../src/aws/services.js';
import { SigningKeyStore } from '../../src/aws/signing-key.js';
import { Notifier } from '../../src/aws/sns.js';
import { type LinkAction, signLink } from '../../src/core/action-links.js';
import { NAMES, parsePolicyText, TAGS } from '../../src/core/policy.js';
import { signActionLinks } from '../../src/jobs/action-links.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { createActionsHandler, STOP_REASON_LINK } from '../../src/handlers/actions.js';
import {
  createTopic,
  DEFAULT_REGION,
  EMULATOR_ACCOUNT,
  endpoint,
  putMetrics,
  resetEmulator,
  seedInstances,
  sentMessages,
  target,
} from './support.js';

const REGION = DEFAULT_REGION;
const KEY = 'emulator-actions-signing-key-0123456789abcdef';
const POLICY_TEXT = 'regions: [us-east-1]\ntimeZone: UTC\n';
const POLICY_FILE = join(mkdtempSync(join(tmpdir(), 'cw-actions-emu-')), 'watchdog.yml');
writeFileSync(POLICY_FILE, POLICY_TEXT);
const ACTIONS_URL = 'https://abc123.lambda-url.us-east-1.on.aws/';

function env(): NodeJS.ProcessEnv {
  return {
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: endpoint(),
    TOPIC_ARN: `arn:aws:sns:${REGION}:${EMULATOR_ACCOUNT}:cost-watchdog-alerts`,
    POLICY_FILE,
    SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
  };
}

/** The real handler, wired to the emulator from its environment only (no injected adapters). */
function actions(now: Date) {
  return createActionsHandler({ clock: () => now, env: env(), log: () => {} });
}

/** A request to the actions URL; `done`: the GET a POST redirects to. */
function request(method: 'GET' | 'POST', token: string, done = false) {
  return {
    version: '2.0',
    rawQueryString: `t=${token}${done ? '&done=1' : ''}`,
    queryStringParameters: { t: token, ...(done ? { done: '1' } : {}) },
    ...(method === 'POST' ? { body: `t=${encodeURIComponent(token)}`, isBase64Encoded: false } : {}),
    requestContext: { http: { method } },
  };
}

async function describe1(id: string) {
  const ec2 = new EC2Client(clientConfig(target(REGION)));
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const raw = res.Reservations?.[0]?.Instances?.[0];
  const tags = Object.fromEntries((raw?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  return { state: raw?.State?.Name, tags, launch: raw?.LaunchTime as Date };
}

async function storeKey(): Promise<void> {
  const ssm = new SSMClient(clientConfig(target(REGION)));
  await ssm.send(
    new PutParameterCommand({ Name: NAMES.signingKeyParameter, Value: KEY, Type: 'SecureString' }),
  );
}

/** A running instance warned 2 hours after its launch; `now` is an hour after the warning. */
async function warnedInstance(tags: Record<string, string> = {}, stopProtected = false) {
  const [id] = (await seedInstances(REGION, { tags: { Owner: 'alice', ...tags }, stopProtected })) as [
    string,
  ];
  const { launch } = await describe1(id);
  const warnedAt = new Date(launch.getTime() + 2 * 3_600_000);
  const ec2 = new EC2Client(clientConfig(target(REGION)));
  await ec2.send(
    new CreateTagsCommand({
      Resources: [id],
      Tags: [
        { Key: TAGS.warnedAt, Value: warnedAt.toISOString() },
        { Key: TAGS.warnRule, Value: 'idle' },
      ],
    }),
  );
  return { id, warnedAt, now: new Date(warnedAt.getTime() + 3_600_000) };
}

/** A link for the instance's warning (the warned-at tag) unless `extra` names another. */
async function link(
  id: string,
  action: LinkAction,
  now: Date,
  extra: { until?: number; exp?: number; warnedAt?: number } = {},
  key = KEY,
) {
  const exp = Math.floor(now.getTime() / 1000) + 3600;
  const tag = (await describe1(id)).tags[TAGS.warnedAt] ?? '';
  const warnedAt = Math.floor(Date.parse(tag) / 1000);
  return signLink(
    { instanceId: id, region: REGION, account: EMULATOR_ACCOUNT, action, exp, warnedAt, ...extra },
    key,
  );
}

beforeEach(async () => {
  await resetEmulator();
});

describe('links from a real warning', () => {
  it('the sweep creates the key, emails the links, and its keep link snoozes the instance', async () => {
    // Prepare: an idle instance, 3 hours after its launch
    const [id] = (await seedInstances(REGION, { tags: { Owner: 'alice' } })) as [string];
    const { launch } = await describe1(id);
    const now = new Date(Math.ceil((launch.getTime() + 3 * 3_600_000) / 300_000) * 300_000);
    await putMetrics(
      REGION,
      id,
      { cpu: 0.5, networkIn: 1_000, networkOut: 1_000 },
      new Date(now.getTime() - 7_200_000),
      now,
    );
    const topicArn = await createTopic(REGION);
    const policy = parsePolicyText(POLICY_TEXT);
    const ssm = new SSMClient(clientConfig(target(REGION)));
    const notifier = new Notifier(new SNSClient(clientConfig(target(REGION))), topicArn);

    // Act 1: the sweep warns, signing links with a key it creates
    const report = await runSweep({
      policy,
      now,
      targets: [target(REGION)],
      services: sdkSweepServices(),
      publish: (a) => notifier.publish(a),
      actionLinks: (warned) =>
        signActionLinks(warned, {
          actionsUrl: ACTIONS_URL,
          account: EMULATOR_ACCOUNT,
          keys: new SigningKeyStore(ssm, NAMES.signingKeyParameter),
          policy,
          now,
        }),
    });

    // Assess 1: a SecureString key exists and the owner's email carries the three links
    expect(report.warned).toEqual([id]);
    expect(report.errors).toEqual([]);
    const param = await ssm.send(new GetParameterCommand({ Name: NAMES.signingKeyParameter }));
    expect(param.Parameter?.Type).toBe('SecureString');
    const mail = (await sentMessages(topicArn)).find((m) => m.attributes.owner === 'alice');
    const email = (JSON.parse(mail?.message ?? '{}') as { email: string }).email;
    const keep = email.match(/Keep it running 4 more hours: (\S+)/)?.[1] ?? '';
    expect(email).toMatch(/Keep it running until .+ 09:00 \(UTC\): https:\/\/abc123\.lambda-url/);
    expect(email).toMatch(/Stop it now: https:\/\/abc123\.lambda-url/);
    const token = new URL(keep).searchParams.get('t') ?? '';

    // Act 2: the owner opens the link, then confirms, 10 minutes later
    const clickAt = new Date(now.getTime() + 600_000);
    const page = await actions(clickAt)(request('GET', token));
    const before = await describe1(id);
    const posted = await actions(clickAt)(request('POST', token));
    const result = await actions(clickAt)(request('GET', token, true));
    const refreshed = await actions(clickAt)(request('GET', token, true));

    // Assess 2: opening changed nothing; confirming set the snooze 4 hours from the click and removed the warning,
    // and answered 303 to a result page that reads the snooze back from EC2 (a refresh shows the same, acts on nothing)
    expect(page.statusCode).toBe(200);
    expect(before.tags[TAGS.exempt]).toBeUndefined();
    expect(posted.statusCode).toBe(303);
    expect(posted.headers.location).toBe(`?t=${encodeURIComponent(token)}&done=1`);
    for (const shown of [result, refreshed]) {
      expect(shown.statusCode).toBe(200);
      expect(shown.body).toContain('<title>Kept running - cost-watchdog</title>');
      expect(shown.body).toContain(`${id} will not be stopped before`);
    }
    const after = await describe1(id);
    expect(after.tags[TAGS.exempt]).toBe(new Date(clickAt.getTime() + 4 * 3_600_000).toISOString());
    expect(after.tags[TAGS.warnedAt]).toBeUndefined();
    expect(after.state).toBe('running');
  });
});

describe('a link answers one warning', () => {
  it('a stop link from a warning that a later sweep cleared (the instance was used again) does nothing', async () => {
    // Prepare: an idle instance, 3 hours after its launch, warned by a sweep with links
    const [id] = (await seedInstances(REGION, { tags: { Owner: 'alice' } })) as [string];
    const { launch } = await describe1(id);
    const now = new Date(Math.ceil((launch.getTime() + 3 * 3_600_000) / 300_000) * 300_000);
    await putMetrics(
      REGION,
      id,
      { cpu: 0.5, networkIn: 1_000, networkOut: 1_000 },
      new Date(now.getTime() - 7_200_000),
      now,
    );
    const topicArn = await createTopic(REGION);
    const policy = parsePolicyText(POLICY_TEXT);
    const ssm = new SSMClient(clientConfig(target(REGION)));
    const notifier = new Notifier(new SNSClient(clientConfig(target(REGION))), topicArn);
    const sweep = (at: Date) =>
      runSweep({
        policy,
        now: at,
        targets: [target(REGION)],
        services: sdkSweepServices(),
        publish: (a) => notifier.publish(a),
        actionLinks: (warned) =>
          signActionLinks(warned, {
            actionsUrl: ACTIONS_URL,
            account: EMULATOR_ACCOUNT,
            keys: new SigningKeyStore(ssm, NAMES.signingKeyParameter),
            policy,
            now: at,
          }),
      });
    expect((await sweep(now)).warned).toEqual([id]);
    const mail = (await sentMessages(topicArn)).find((m) => m.attributes.owner === 'alice');
    const email = (JSON.parse(mail?.message ?? '{}') as { email: string }).email;
    const stop = new URL(email.match(/Stop it now: (\S+)/)?.[1] ?? '').searchParams.get('t') ?? '';

    // Act: 30 minutes later the instance is busy again and the next sweep clears the warning; then the
    // owner clicks "stop" in the old email
    const later = new Date(now.getTime() + 1_800_000);
    await putMetrics(
      REGION,
      id,
      { cpu: 90, networkIn: 50_000_000, networkOut: 50_000_000 },
      new Date(later.getTime() - 5_400_000),
      later,
    );
    const second = await sweep(later);
    const page = await actions(later)(request('GET', stop));
    const res = await actions(later)(request('POST', stop));

    // Assess
    expect(second.cleared).toEqual([id]);
    expect(page.statusCode).toBe(410);
    expect(res.statusCode).toBe(410);
    expect(res.body).toContain('This warning no longer exists');
    expect(res.body).toContain('cleared because the instance was used again');
    const after = await describe1(id);
    expect(after.state).toBe('running');
    expect(after.tags[TAGS.stopReason]).toBeUndefined();
  });
});

describe('each action against the emulator', () => {
  it('keep until tomorrow sets the snooze to the time fixed in the link', async () => {
    // Prepare
    await storeKey();
    const { id, now } = await warnedInstance();
    const until = Math.floor(now.getTime() / 1000) + 20 * 3600;

    // Act
    const res = await actions(now)(request('POST', await link(id, 'keepTomorrow', now, { until })));

    // Assess
    expect(res.statusCode).toBe(303);
    expect((await describe1(id)).tags[TAGS.exempt]).toBe(new Date(until * 1000).toISOString());
  });

  it('stop stops the instance, tags why, and removes the warning', async () => {
    // Prepare
    await storeKey();
    const { id, now } = await warnedInstance();

    // Act
    const token = await link(id, 'stop', now);
    const res = await actions(now)(request('POST', token));
    const result = await actions(now)(request('GET', token, true));

    // Assess: 303 to a result page that reads the stop back from EC2
    expect(res.statusCode).toBe(303);
    expect(result.statusCode).toBe(200);
    expect(result.body).toMatch(new RegExp(`${id} is (stopping|stopped)\\. Nothing was deleted`));
    const after = await describe1(id);
    expect(['stopping', 'stopped']).toContain(after.state);
    expect(after.tags).toMatchObject({
      [TAGS.stoppedAt]: now.toISOString(),
      [TAGS.stopReason]: STOP_REASON_LINK,
    });
    expect(after.tags[TAGS.warnedAt]).toBeUndefined();
  });

  it.each([
    ['a stop-protected', {}, true, /stop protection is on/],
    ['an exempt', { [TAGS.exempt]: 'true' }, false, /exempt/],
  ])('stop leaves %s instance running', async (_what, tags, stopProtected, text) => {
    // Prepare
    await storeKey();
    const { id, now } = await warnedInstance(tags, stopProtected);

    // Act
    const res = await actions(now)(request('POST', await link(id, 'stop', now)));

    // Assess
    expect(res.statusCode).toBe(409);
    expect(res.body).toMatch(text);
    const after = await describe1(id);
    expect(after.state).toBe('running');
    expect(after.tags[TAGS.stopReason]).toBeUndefined();
  });

  it.each([
    [
      'for a warning the instance no longer carries',
      410,
      (id: string, now: Date) => link(id, 'stop', now, { warnedAt: Math.floor(now.getTime() / 1000) - 7200 }),
    ],
    [
      'tampered (another instance id)',
      403,
      async (id: string, now: Date) => {
        const [v, p, s] = (await link(id, 'stop', now)).split('.');
        const wire = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
        wire.i = 'i-0fffffffffffffff0';
        return `${v}.${Buffer.from(JSON.stringify(wire)).toString('base64url')}.${s}`;
      },
    ],
    [
      'expired',
      410,
      (id: string, now: Date) => link(id, 'stop', now, { exp: Math.floor(now.getTime() / 1000) - 1 }),
    ],
    ['signed with another key', 403, (id: string, now: Date) => link(id, 'stop', now, {}, 'z'.repeat(40))],
  ])('a stop link that is %s changes nothing', async (_what, status, make) => {
    // Prepare
    await storeKey();
    const { id, now } = await warnedInstance();
    const before = await describe1(id);

    // Act
    const res = await actions(now)(request('POST', await make(id, now)));

    // Assess
    expect(res.statusCode).toBe(status);
    expect(res.body).toContain('Nothing was changed');
    expect(await describe1(id)).toEqual(before);
  });
});
