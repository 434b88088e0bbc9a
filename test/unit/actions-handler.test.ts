import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance as Ec2Instance,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { KEY_CACHE_MS, SigningKeyStore } from '../../src/aws/signing-key.js';
import { type LinkAction, signLink } from '../../src/core/action-links.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import {
  createActionsHandler,
  type FunctionUrlResponse,
  STOP_REASON_LINK,
} from '../../src/handlers/actions.js';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);

const KEY = 'test-signing-key-0123456789abcdefghijklmnop';
const ACCOUNT = '123456789012';
const ID = 'i-0abc1234def567890';
const NOW = new Date('2026-03-03T09:40:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 24 * 3600;
/** The warning the instance carries (its warned-at tag), and the one the links answer. */
const WARNED_AT = '2026-03-03T09:00:00.000Z';
const WARNED = Date.parse(WARNED_AT) / 1000;
const POLICY_DIR = mkdtempSync(join(tmpdir(), 'cw-actions-'));
const POLICY_FILE = join(POLICY_DIR, 'watchdog.yml');
writeFileSync(POLICY_FILE, 'timeZone: UTC\n');

const ENV = {
  AWS_REGION: 'us-east-1',
  TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:cost-watchdog-prod-alerts`,
  POLICY_FILE,
  SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
};

function handler(clock: () => Date = () => NOW) {
  const logs: Record<string, unknown>[] = [];
  const fn = createActionsHandler({
    clock,
    env: ENV,
    keys: new SigningKeyStore(new SSMClient({ region: 'us-east-1' }), NAMES.signingKeyParameter, clock),
    ec2: (region) => new Ec2Adapter(new EC2Client({ region }), region),
    log: (r) => logs.push(r),
  });
  return { fn, logs };
}

function link(
  action: LinkAction,
  extra: Partial<{ exp: number; account: string; until: number; warnedAt: number }> = {},
  key = KEY,
) {
  return signLink(
    { instanceId: ID, region: 'us-east-1', account: ACCOUNT, action, warnedAt: WARNED, exp: EXP, ...extra },
    key,
  );
}

function get(token: string) {
  return {
    version: '2.0',
    rawQueryString: `t=${token}`,
    queryStringParameters: { t: token },
    requestContext: { http: { method: 'GET' } },
  };
}

function post(token: string) {
  return {
    version: '2.0',
    rawQueryString: `t=${token}`,
    queryStringParameters: { t: token },
    body: Buffer.from(new URLSearchParams({ t: token }).toString()).toString('base64'),
    isBase64Encoded: true,
    requestContext: { http: { method: 'POST' } },
  };
}

function instance(
  tags: Record<string, string | undefined> = {},
  extra: Partial<Ec2Instance> = {},
): Ec2Instance {
  return {
    InstanceId: ID,
    InstanceType: 't3.micro',
    LaunchTime: new Date('2026-03-03T06:00:00Z'),
    State: { Name: 'running' },
    RootDeviceType: 'ebs',
    Tags: Object.entries({ Owner: 'alice', [TAGS.warnedAt]: WARNED_AT, ...tags })
      .filter(([, Value]) => Value !== undefined)
      .map(([Key, Value]) => ({ Key, Value })),
    ...extra,
  };
}

function givenInstance(
  tags: Record<string, string | undefined> = {},
  extra: Partial<Ec2Instance> = {},
  stopProtected = false,
) {
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(tags, extra)] }] });
  ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: stopProtected } });
  ec2
    .on(StopInstancesCommand)
    .resolves({ StoppingInstances: [{ InstanceId: ID, CurrentState: { Name: 'stopping' } }] });
  ec2.on(CreateTagsCommand).resolves({});
  ec2.on(DeleteTagsCommand).resolves({});
}

function expectHtml(res: FunctionUrlResponse, status: number, text: RegExp) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.body).toMatch(text);
}

/** A POST that acted: 303 See Other to the GET of its outcome (the same link with done=1), and the page. */
function expectRedirect(res: FunctionUrlResponse, token: string, text: RegExp) {
  expectHtml(res, 303, text);
  expect(res.headers.location).toBe(`?t=${encodeURIComponent(token)}&done=1`);
  expect(res.headers['content-security-policy']).toContain("form-action 'self'");
}

/** The GET a POST redirects to. */
function done(token: string) {
  return {
    version: '2.0',
    rawQueryString: `t=${token}&done=1`,
    queryStringParameters: { t: token, done: '1' },
    requestContext: { http: { method: 'GET' } },
  };
}

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAMES.signingKeyParameter, Value: KEY } });
});

describe('the actions function never acts without a valid link', () => {
  it('never reaches StopInstances, CreateTags or DeleteTags for random or altered tokens, GET or POST', async () => {
    // Prepare
    givenInstance();
    const { fn } = handler();
    const valid = link('stop');
    const token = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc
        .base64String({ maxLength: 400 })
        .map((s) => `v1.${s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')}.${'A'.repeat(43)}`),
      fc
        .tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...'ABCabc012-_.'))
        .filter(([i, c]) => valid[i] !== c)
        .map(([i, c]) => `${valid.slice(0, i)}${c}${valid.slice(i + 1)}`),
    );

    // Act
    await fc.assert(
      fc.asyncProperty(token, fc.constantFrom('GET', 'POST'), async (t, method) => {
        const res = await fn(method === 'POST' ? post(t) : get(t));
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 300 },
    );

    // Assess
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteTagsCommand);
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it.each([
    ['expired', () => link('stop', { exp: Math.floor(NOW.getTime() / 1000) - 1 }), 410, /has expired/],
    ['signed with another key', () => link('stop', {}, 'x'.repeat(40)), 403, /different key/],
    ['for another account', () => link('stop', { account: '210987654321' }), 403, /account 210987654321/],
    ['missing', () => '', 400, /only works with a link/],
  ])(
    'answers a link that is %s with a page saying why, and changes nothing',
    async (_what, make, status, text) => {
      // Prepare
      givenInstance();
      const { fn } = handler();

      // Act
      const res = await fn(post(make()));

      // Assess
      expectHtml(res, status, text);
      expect(res.body).toContain('Nothing was changed');
      expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
      expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    },
  );

  it('refuses every link while no signing key exists yet', async () => {
    // Prepare
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('not found'), { name: 'ParameterNotFound' }));
    givenInstance();

    // Act
    const res = await handler().fn(post(link('stop')));

    // Assess
    expectHtml(res, 403, /not valid/);
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  });

  it('only shows a confirmation on GET (mail scanners open links): it reads the instance, changes nothing', async () => {
    // Prepare
    givenInstance({ Name: 'notebook', [TAGS.warnRule]: 'idle' });
    const { fn } = handler();

    // Act
    const page = await fn(get(link('stop')));

    // Assess: the page says what it is about (name, id, type, owner, rule, why, when) and that it stops
    expectHtml(page, 200, /<title>Stop notebook now\? - cost-watchdog<\/title>/);
    for (const fact of [
      '<dt>Name</dt><dd>notebook</dd>',
      '<dt>Instance</dt><dd>i-0abc1234def567890</dd>',
      '<dt>Region</dt><dd>us-east-1</dd>',
      '<dt>Type</dt><dd>t3.micro</dd>',
      '<dt>Owner</dt><dd>alice</dd>',
      '<dt>Warned for</dt><dd>idle</dd>',
      '<dt>Stop due</dt><dd>after Tue 3 Mar 10:00 (UTC)</dd>',
    ]) {
      expect(page.body).toContain(fact);
    }
    expect(page.body).toMatch(/<dt>Why<\/dt><dd>It has been idle: CPU under 5% and network under 5 MB/);
    expect(page.body).toContain('<button type="submit" class="danger">Yes, stop it now</button>');
    expect(page.body).toContain('<form method="post">');
    const sent = ec2.calls().map((c) => c.args[0].constructor.name);
    expect(sent).toEqual(['DescribeInstancesCommand']);
  });

  it('refuses a v1 link (sent before links named their warning) as expired, and reads no instance', async () => {
    // Prepare
    givenInstance();
    const v2 = link('stop').split('.');
    const payload = JSON.parse(Buffer.from(v2[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    delete payload.w;
    const v1Payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const sig = createHmac('sha256', KEY).update(`v1.${v1Payload}`).digest('base64url');

    // Act
    const res = await handler().fn(post(`v1.${v1Payload}.${sig}`));

    // Assess
    expectHtml(res, 410, /This link has expired/);
    expect(res.body).toContain('earlier version of cost-watchdog');
    expect(ec2.calls()).toEqual([]);
  });

  it('never logs the token or the key', async () => {
    // Prepare
    givenInstance();
    const { fn, logs } = handler();
    const token = link('keep4h');

    // Act
    await fn(post(token));
    await fn(post(`${token}x`));

    // Assess
    const text = JSON.stringify(logs);
    expect(logs.length).toBe(2);
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(KEY);
  });

  it('answers methods other than GET and POST with 405', async () => {
    const res = await handler().fn({ requestContext: { http: { method: 'DELETE' } } });
    expect(res.statusCode).toBe(405);
  });
});

describe('a valid keep link', () => {
  it('sets the snooze tag 4 hours from the click and removes the warning', async () => {
    // Prepare
    givenInstance();

    // Act
    const token = link('keep4h');
    const res = await handler().fn(post(token));

    // Assess
    expectRedirect(res, token, /i-0abc1234def567890 will not be stopped before Tue 3 Mar 13:40 \(UTC\)\./);
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [ID],
      Tags: [{ Key: TAGS.exempt, Value: '2026-03-03T13:40:00.000Z' }],
    });
    expect(ec2).toHaveReceivedCommandWith(DeleteTagsCommand, {
      Resources: [ID],
      Tags: [{ Key: TAGS.warnedAt }, { Key: TAGS.warnRule }],
    });
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  });

  it('keeps "until tomorrow" until the time fixed in the warning, whenever it is clicked', async () => {
    // Prepare
    givenInstance();
    const until = Math.floor(Date.parse('2026-03-04T09:00:00Z') / 1000);

    // Act
    const token = link('keepTomorrow', { until });
    const res = await handler(() => new Date('2026-03-03T23:30:00Z')).fn(post(token));

    // Assess
    expectRedirect(res, token, /will not be stopped before Wed 4 Mar 09:00 \(UTC\)/);
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: [{ Key: TAGS.exempt, Value: '2026-03-04T09:00:00.000Z' }],
    });
  });

  it('names the keep time on the button, also when quiet hours carry it to Monday morning', async () => {
    // Prepare: a Tuesday warning whose quiet hours run to Monday 07:00; the link keeps it until then
    givenInstance();
    const until = Math.floor(Date.parse('2026-03-09T07:00:00Z') / 1000);

    // Act
    const page = await handler().fn(get(link('keepTomorrow', { until })));

    // Assess
    expectHtml(page, 200, /<button[^>]*>Keep it running until Mon 9 Mar 07:00 \(UTC\)<\/button>/);
    expect(page.body).not.toContain('until tomorrow');
  });

  it.each([
    ['exempt for good', { [TAGS.exempt]: 'true' }, /never stopped by cost-watchdog: exempt/],
    [
      'snoozed for longer already',
      { [TAGS.exempt]: '2026-03-10' },
      /not be stopped before Tue 10 Mar 00:00 \(UTC\)\. Nothing was changed/,
    ],
  ])('never shortens the protection of an instance that is %s', async (_what, tags, text) => {
    // Prepare
    givenInstance(tags);

    // Act
    const res = await handler().fn(post(link('keep4h')));

    // Assess
    expectHtml(res, 200, text);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('says so and changes nothing when the instance is no longer running', async () => {
    // Prepare
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [instance({}, { State: { Name: 'stopped' } })] }] });

    // Act
    const res = await handler().fn(post(link('keep4h')));

    // Assess
    expectHtml(res, 200, /is not running/);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });
});

describe('a valid stop link', () => {
  it('stops the instance (never terminates), tags why and removes the warning', async () => {
    // Prepare
    givenInstance();

    // Act
    const token = link('stop');
    const res = await handler().fn(post(token));

    // Assess
    expectRedirect(res, token, /i-0abc1234def567890 is stopping\. Nothing was deleted/);
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [ID] });
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [ID],
      Tags: [
        { Key: TAGS.stoppedAt, Value: NOW.toISOString() },
        { Key: TAGS.stopReason, Value: STOP_REASON_LINK },
        { Key: TAGS.stoppedBy, Value: 'link' },
      ],
    });
    expect(ec2).toHaveReceivedCommandWith(DeleteTagsCommand, {
      Tags: [{ Key: TAGS.warnedAt }, { Key: TAGS.warnRule }],
    });
    const sent = ec2.calls().map((c) => c.args[0].constructor.name);
    expect(new Set(sent)).toEqual(
      new Set([
        'DescribeInstancesCommand',
        'DescribeInstanceAttributeCommand',
        'StopInstancesCommand',
        'CreateTagsCommand',
        'DeleteTagsCommand',
      ]),
    );
  });

  it('hibernates an instance launched with hibernation', async () => {
    givenInstance({}, { HibernationOptions: { Configured: true } });
    const token = link('stop');
    const res = await handler().fn(post(token));
    expectRedirect(res, token, /is hibernating/);
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [ID], Hibernate: true });
  });

  it.each([
    ['exempt', { [TAGS.exempt]: 'true' }, {}, false, /exempt/],
    [
      'snoozed',
      { [TAGS.exempt]: '2026-03-04T00:00:00Z' },
      {},
      false,
      /snoozed until Wed 4 Mar 00:00 \(UTC\)/,
    ],
    ['in an Auto Scaling group', { 'aws:autoscaling:groupName': 'web' }, {}, false, /Auto Scaling group web/],
    [
      'an EKS Auto Mode node',
      {},
      { Operator: { Managed: true, Principal: 'eks.amazonaws.com' } },
      false,
      /managed by eks\.amazonaws\.com/,
    ],
    ['a spot instance', {}, { InstanceLifecycle: 'spot' as const }, false, /spot instance/],
    ['stop-protected', {}, {}, true, /stop protection is on/],
  ])('refuses to stop an instance that is %s', async (_what, tags, extra, stopProtected, text) => {
    // Prepare
    givenInstance(tags, extra, stopProtected);

    // Act
    const res = await handler().fn(post(link('stop')));

    // Assess
    expectHtml(res, 409, text);
    expect(res.body).toContain('was not stopped');
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('does not stop when stop protection cannot be checked', async () => {
    // Prepare
    givenInstance();
    ec2.on(DescribeInstanceAttributeCommand).rejects(new Error('throttled'));

    // Act
    const res = await handler().fn(post(link('stop')));

    // Assess
    expectHtml(res, 502, /could not be checked/);
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  });
});

describe('revoking links in a warm container', () => {
  const NEW_KEY = 'replaced-signing-key-0123456789abcdefghijkl';
  const notFound = () => Object.assign(new Error('nf'), { name: 'ParameterNotFound' });

  it('refuses every old link within 60 s of the key being deleted', async () => {
    // Prepare: a warm container that answered a link with the key it read
    givenInstance();
    let now = NOW.getTime();
    const { fn } = handler(() => new Date(now));
    expect((await fn(get(link('stop')))).statusCode).toBe(200);

    // Act: the admin deletes the key; the same link is opened every 10 s for a minute
    ssm.on(GetParameterCommand).rejects(notFound());
    const statuses: number[] = [];
    for (let t = 10; t <= 60; t += 10) {
      now = NOW.getTime() + t * 1000;
      statuses.push((await fn(post(link('stop')))).statusCode);
    }

    // Assess: refused by 60 s at the latest, and from then on; never stopped after the refusal began
    expect(statuses.at(-1)).toBe(403);
    const firstRefusal = statuses.indexOf(403);
    expect(statuses.slice(firstRefusal).every((code) => code === 403)).toBe(true);
    const res = await fn(post(link('stop')));
    expectHtml(res, 403, /No signing key exists/);
  });

  it('refuses old links and accepts new ones within 60 s of the key being replaced', async () => {
    // Prepare
    givenInstance();
    let now = NOW.getTime();
    const { fn } = handler(() => new Date(now));
    expect((await fn(get(link('keep4h')))).statusCode).toBe(200);

    // Act: the key is replaced; a minute later the old and a new link are opened
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: NEW_KEY } });
    now += 60_000;
    const old = await fn(get(link('keep4h')));
    const fresh = await fn(get(link('keep4h', {}, NEW_KEY)));

    // Assess
    expectHtml(old, 403, /different key/);
    expectHtml(fresh, 200, /Keep i-0abc1234def567890/);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('asks SSM at most once a minute however many links arrive', async () => {
    // Prepare
    givenInstance();
    let now = NOW.getTime();
    const { fn } = handler(() => new Date(now));

    // Act: 50 links, good and bad, over 59 seconds
    for (let i = 0; i < 50; i++) {
      now = NOW.getTime() + i * 1_200;
      await fn(get(i % 2 === 0 ? link('stop') : link('stop', {}, NEW_KEY)));
    }

    // Assess
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });
});

describe('a link answers one warning', () => {
  it.each([
    [
      'was already answered (no warning tag)',
      { [TAGS.warnedAt]: undefined },
      /no longer exists: it was already answered/,
    ],
    [
      'was replaced by a newer warning',
      { [TAGS.warnedAt]: '2026-03-03T09:30:00.000Z' },
      /replaced by a newer warning/,
    ],
  ])('does nothing, on GET or POST, when the warning %s, and says so', async (_what, tags, text) => {
    // Prepare
    givenInstance(tags);
    const { fn } = handler();

    for (const action of ['keep4h', 'keepTomorrow', 'stop'] as const) {
      for (const request of [get, post]) {
        // Act
        const res = await fn(request(link(action, action === 'keepTomorrow' ? { until: EXP } : {})));

        // Assess
        expectHtml(res, 410, text);
        expect(res.body).toContain('This warning no longer exists');
        expect(res.body).toContain('Nothing was changed');
        expect(res.body).not.toContain('<form');
      }
    }
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteTagsCommand);
  });

  it('does nothing when the instance was started again after the warning', async () => {
    // Prepare
    givenInstance({}, { LaunchTime: new Date('2026-03-03T09:30:00Z') });

    // Act
    const res = await handler().fn(post(link('stop')));

    // Assess
    expectHtml(res, 410, /stopped and started again since/);
    expect(res.body).toContain('will not stop it without warning you again first');
    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  });

  it('a used keep link cannot be used again: the warning it answered is gone', async () => {
    // Prepare: the first click removes the warning tag
    givenInstance();
    const { fn } = handler();
    const token = link('keep4h');
    expect((await fn(post(token))).statusCode).toBe(303);
    ec2.reset();
    givenInstance({ [TAGS.warnedAt]: undefined, [TAGS.exempt]: '2026-03-03T13:40:00.000Z' });

    // Act
    const again = await fn(post(token));

    // Assess
    expectHtml(again, 410, /already answered/);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('"keep until tomorrow" refuses, on GET and POST, once that time has passed', async () => {
    // Prepare: the snooze end of the link is 09:00, the click is at 09:40 the same morning
    givenInstance();
    const until = Math.floor(Date.parse('2026-03-03T09:00:00Z') / 1000);
    const { fn } = handler();

    // Act
    const page = await fn(get(link('keepTomorrow', { until })));
    const res = await fn(post(link('keepTomorrow', { until })));

    // Assess
    expectHtml(page, 410, /keep i-0abc1234def567890 running until Tue 3 Mar 09:00 \(UTC\), which has passed/);
    expectHtml(res, 410, /which has passed\. Nothing was changed/);
    expect(res.body).toContain('Keep it running 4 more hours');
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });
});

describe('the signing key store', () => {
  const store = (clock: () => Date = () => NOW) =>
    new SigningKeyStore(new SSMClient({ region: 'us-east-1' }), NAMES.signingKeyParameter, clock);

  it('reads the key with decryption once per container', async () => {
    // Prepare
    const keys = store();

    // Act
    const [a, b] = [await keys.read(), await keys.read()];

    // Assess
    expect([a, b]).toEqual([KEY, KEY]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, {
      Name: NAMES.signingKeyParameter,
      WithDecryption: true,
    });
  });

  it('creates a random SecureString key without overwriting when none exists', async () => {
    // Prepare
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(Object.assign(new Error('nf'), { name: 'ParameterNotFound' }))
      .resolves({ Parameter: { Value: KEY } });
    ssm.on(PutParameterCommand).resolves({});

    // Act
    const key = await store().readOrCreate();

    // Assess
    expect(key).toBe(KEY);
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: NAMES.signingKeyParameter,
      Type: 'SecureString',
      Overwrite: false,
    });
    const put = ssm.commandCalls(PutParameterCommand)[0]?.args[0].input;
    expect(put?.Value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('uses the key of a run that created it first (a race lost is no error)', async () => {
    // Prepare
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(Object.assign(new Error('nf'), { name: 'ParameterNotFound' }))
      .resolves({ Parameter: { Value: KEY } });
    ssm
      .on(PutParameterCommand)
      .rejects(Object.assign(new Error('exists'), { name: 'ParameterAlreadyExists' }));

    // Act / Assess
    await expect(store().readOrCreate()).resolves.toBe(KEY);
  });

  it('trusts the key it read for less than a minute, then reads it again', async () => {
    // Prepare
    let now = NOW.getTime();
    const keys = store(() => new Date(now));
    await keys.read();

    // Act
    now += KEY_CACHE_MS - 1;
    await keys.read();
    const early = ssm.commandCalls(GetParameterCommand).length;
    now += 1;
    await keys.read();

    // Assess
    expect(KEY_CACHE_MS).toBeLessThanOrEqual(60_000);
    expect(early).toBe(1);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('looks a missing key up again at most once a minute', async () => {
    // Prepare
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('nf'), { name: 'ParameterNotFound' }));
    let now = NOW.getTime();
    const keys = store(() => new Date(now));

    // Act
    const early = [await keys.read(), await keys.read()];
    now += KEY_CACHE_MS;
    await keys.read();

    // Assess
    expect(early).toEqual([undefined, undefined]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('keeps no old key when SSM cannot be read: the next request asks again', async () => {
    // Prepare
    ssm.reset();
    ssm
      .on(GetParameterCommand)
      .resolvesOnce({ Parameter: { Value: KEY } })
      .rejectsOnce(new Error('ThrottlingException'))
      .resolves({ Parameter: { Value: KEY } });
    let now = NOW.getTime();
    const keys = store(() => new Date(now));
    await keys.read();
    now += KEY_CACHE_MS;

    // Act / Assess
    await expect(keys.read()).rejects.toThrow('ThrottlingException');
    await expect(keys.read()).resolves.toBe(KEY);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 3);
  });

  it('gives the sweep the key as it is in SSM at every run, never from the cache', async () => {
    // Prepare: one store for the container, as the sweep handler keeps it
    const NEW_KEY = 'replaced-signing-key-0123456789abcdefghijkl';
    const keys = store();
    const first = await keys.readOrCreate();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: NEW_KEY } });

    // Act: the next run, at the same instant (no TTL can explain it)
    const second = await keys.readOrCreate();

    // Assess
    expect([first, second]).toEqual([KEY, NEW_KEY]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('rejects a key parameter that is too short to be safe', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'short' } });
    await expect(store().read()).rejects.toThrow(/shorter than 32 bytes/);
  });
});

describe('POST-redirect-GET: the result page shows the outcome and never acts', () => {
  const writes = () =>
    ec2
      .calls()
      .map((c) => c.args[0].constructor.name)
      .filter((n) => ['CreateTagsCommand', 'DeleteTagsCommand', 'StopInstancesCommand'].includes(n));

  it('after a keep, the result page reads the snooze from the instance; refreshing or re-posting changes nothing', async () => {
    // Prepare: the POST keeps the instance, which then carries the snooze and no warning
    givenInstance({ Name: 'notebook' });
    const { fn } = handler();
    const token = link('keep4h');
    expect((await fn(post(token))).statusCode).toBe(303);
    expect(writes()).toEqual(['CreateTagsCommand', 'DeleteTagsCommand']);
    ec2.reset();
    givenInstance({
      Name: 'notebook',
      [TAGS.warnedAt]: undefined,
      [TAGS.exempt]: '2026-03-03T13:40:00.000Z',
    });

    // Act: the browser follows the redirect, the student refreshes, then goes back and submits again
    const shown = await fn(done(token));
    const refreshed = await fn(done(token));
    const resubmitted = await fn(post(token));

    // Assess
    for (const page of [shown, refreshed]) {
      expectHtml(page, 200, /notebook will not be stopped before Tue 3 Mar 13:40 \(UTC\)\./);
      expect(page.body).toContain('<title>Kept running - cost-watchdog</title>');
      expect(page.body).not.toContain('<form');
    }
    expectHtml(resubmitted, 410, /already answered/);
    expect(writes()).toEqual([]);
  });

  it('after a stop, the result page reads the state from the instance; refreshing or re-posting stops nothing', async () => {
    // Prepare
    givenInstance({ Name: 'notebook' });
    const { fn } = handler();
    const token = link('stop');
    expect((await fn(post(token))).statusCode).toBe(303);
    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance({ Name: 'notebook' }, { State: { Name: 'stopping' } })] }],
    });

    // Act
    const shown = await fn(done(token));
    const refreshed = await fn(done(token));
    const resubmitted = await fn(post(token));

    // Assess
    for (const page of [shown, refreshed]) {
      expectHtml(page, 200, /notebook is stopping\. Nothing was deleted/);
      expect(page.body).toContain('<dt>Type</dt><dd>t3.micro</dd>');
    }
    expectHtml(resubmitted, 200, /is not running \(stopping\)\. Nothing was changed/);
    expect(writes()).toEqual([]);
  });

  it('a result URL opened before anything was done shows the confirmation, and acts on nothing', async () => {
    // Prepare: the instance still carries the warning the link answers
    givenInstance();

    // Act
    const page = await handler().fn(done(link('keep4h')));

    // Assess
    expectHtml(page, 200, /Keep i-0abc1234def567890 running until Tue 3 Mar 13:40 \(UTC\)\?/);
    expect(page.body).toContain('<form method="post">');
    expect(writes()).toEqual([]);
  });

  it('answers a refused POST with its page, not a redirect', async () => {
    givenInstance({}, {}, true);
    const res = await handler().fn(post(link('stop')));
    expectHtml(res, 409, /was not stopped/);
    expect(res.headers.location).toBeUndefined();
  });
});

describe('pages people can act on', () => {
  const BERLIN_DIR = mkdtempSync(join(tmpdir(), 'cw-actions-berlin-'));
  const BERLIN_FILE = join(BERLIN_DIR, 'watchdog.yml');
  writeFileSync(BERLIN_FILE, 'timeZone: Europe/Berlin\n');
  const berlin = (clock: () => Date) =>
    createActionsHandler({
      clock,
      env: { ...ENV, POLICY_FILE: BERLIN_FILE },
      keys: new SigningKeyStore(new SSMClient({ region: 'us-east-1' }), NAMES.signingKeyParameter, clock),
      ec2: (region) => new Ec2Adapter(new EC2Client({ region }), region),
      log: () => {},
    });

  it('says when an expired link expired in the policy time zone, across a DST change, with a next step', async () => {
    // Prepare: the link expired at 01:30 UTC on the night Berlin moves to summer time (03:30 CEST)
    givenInstance();
    const exp = Date.parse('2026-03-29T01:30:00Z') / 1000;

    // Act
    const res = await berlin(() => new Date('2026-03-29T08:00:00Z'))(post(link('keep4h', { exp })));

    // Assess
    expectHtml(res, 410, /The link expired at Sun 29 Mar 03:30 \(Europe\/Berlin\)\. Nothing was changed\./);
    expect(res.body).toMatch(/ask your instructor or administrator/);
    expect(res.body).toContain('stop it yourself in the EC2 console');
    expect(res.body).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
  });

  it('shows the keep confirmation in local time (winter and summer time)', async () => {
    givenInstance();
    const winter = await berlin(() => NOW)(get(link('keep4h')));
    expectHtml(winter, 200, /running until Tue 3 Mar 14:40 \(Europe\/Berlin\)\?/);
    expect(winter.body).toContain(
      '<button type="submit" class="primary">Keep it running 4 more hours</button>',
    );
  });

  it.each([
    ['expired', () => link('stop', { exp: Math.floor(NOW.getTime() / 1000) - 1 })],
    ['signed with another key', () => link('stop', {}, 'x'.repeat(40))],
    ['for another account', () => link('stop', { account: '210987654321' })],
    ['tampered', () => `${link('stop').slice(0, -2)}AA`],
    ['already answered', () => link('stop', { warnedAt: WARNED - 60 })],
  ])(
    'a refusal (%s) gives a next step a student can take and never says to set a tag',
    async (_what, make) => {
      // Prepare
      givenInstance();

      // Act
      const res = await handler().fn(get(make()));

      // Assess
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.body).toContain('Nothing was changed');
      expect(res.body).toMatch(/EC2 console|instructor or administrator|newest warning email/);
      expect(res.body).not.toMatch(/\btag it\b|cost-watchdog:exempt/i);
      expect(res.body).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    },
  );
});
