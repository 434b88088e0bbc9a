import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CostServices } from '../../src/aws/cost-services.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { Ec2CostsAdapter } from '../../src/aws/ec2-costs.js';
import { PriceLookup } from '../../src/aws/pricing.js';
import { SigningKeyStore } from '../../src/aws/signing-key.js';
import { UsageStore } from '../../src/aws/usage-store.js';
import type { LogRecord } from '../../src/core/log.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { createActionsHandler, type FunctionUrlResponse } from '../../src/handlers/actions.js';
import { createLaunchGuardHandler, STATE_CHANGE_DETAIL_TYPE } from '../../src/handlers/launch-guard.js';
import { createSweepHandler } from '../../src/handlers/sweep.js';
import { hoursAgo, idleMetrics, makeInstance, NOW } from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';
import { policyFile } from '../support/policy-file.js';

const RUNS = Math.max(1, Number(process.env.PROPERTY_RUNS ?? 500));
const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const ID = 'i-0123456789abcdef0';
const ACCOUNT = '123456789012';

// A policy under which any instance that got as far as a check would be stopped at once: if a bad event ever
// reached the decision, the mutation assertions below would see it.
const STRICT_POLICY = policyFile('nonFreeTier:\n  action: stop\nlaunchGuard:\n  immediate: true\n');

function expectNoMutation() {
  expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  expect(ec2).not.toHaveReceivedCommand(DeleteTagsCommand);
  // Nothing but reads, whatever the event said.
  expect(
    ec2
      .calls()
      .map((c) => c.args[0].constructor.name)
      .filter((n) => !n.startsWith('Describe')),
  ).toEqual([]);
}

/** A well-formed state-change event, as EventBridge delivers it. */
function stateChange(detail: unknown = { 'instance-id': ID, state: 'running' }): Record<string, unknown> {
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': STATE_CHANGE_DETAIL_TYPE,
    source: 'aws.ec2',
    account: ACCOUNT,
    time: NOW.toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${ID}`],
    detail,
  };
}

function nested(depth: number): unknown {
  let value: unknown = ID;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('the launch guard with bad events', () => {
  let alerts: Alert[];
  let logs: LogRecord[];

  function guard() {
    const client = new EC2Client({ region: 'us-east-1' });
    const services: CostServices = {
      ec2: (t) => new Ec2Adapter(client, t.region),
      costs: (t) => new Ec2CostsAdapter(client, t.region),
      prices: new PriceLookup(),
      usage: new UsageStore(new SSMClient({ region: 'us-east-1' })),
    };
    return createLaunchGuardHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`,
        POLICY_FILE: STRICT_POLICY,
      },
      services,
      notifier: { publish: async (a) => alerts.push(a) },
      log: (r) => logs.push(r),
    });
  }

  beforeEach(() => {
    ec2.reset();
    alerts = [];
    logs = [];
  });

  const valid = stateChange();
  it.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'EC2 Instance State-change Notification'],
    ['a number', 42],
    ['a boolean', true],
    ['an empty array', []],
    ['an array holding a valid event', [valid]],
    ['an empty object', {}],
    ['an event without detail', { ...valid, detail: undefined }],
    ['an event with a null detail', { ...valid, detail: null }],
    ['an event with a string detail', { ...valid, detail: JSON.stringify(valid.detail) }],
    ['an event with an array detail', { ...valid, detail: [valid.detail] }],
    ['an unknown detail-type', { ...valid, 'detail-type': 'EC2 Spot Instance Interruption Warning' }],
    ['a CloudTrail detail-type', { ...valid, 'detail-type': 'AWS API Call via CloudTrail' }],
    ['a scheduled event', { ...valid, source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }],
    ['a custom source', { ...valid, source: 'custom.evil' }],
    ['a source in capitals', { ...valid, source: 'AWS.EC2' }],
    ['a source with a trailing space', { ...valid, source: 'aws.ec2 ' }],
    ['no region', { ...valid, region: undefined }],
    ['a region with a shell command', { ...valid, region: 'us-east-1; curl evil.example' }],
    ['a region that is a host name', { ...valid, region: 'evil.example.com' }],
    ['an instance id that is a number', stateChange({ 'instance-id': 123456789, state: 'running' })],
    ['an instance id that is null', stateChange({ 'instance-id': null, state: 'running' })],
    ['an instance id in an array', stateChange({ 'instance-id': [ID], state: 'running' })],
    ['an instance id that is an object', stateChange({ 'instance-id': { id: ID }, state: 'running' })],
    ['an id without the i- prefix', stateChange({ 'instance-id': '0123456789abcdef0', state: 'running' })],
    ['an id in capitals', stateChange({ 'instance-id': 'I-0123456789ABCDEF0', state: 'running' })],
    ['an id that is too short', stateChange({ 'instance-id': 'i-0123', state: 'running' })],
    ['an id with non-hex digits', stateChange({ 'instance-id': 'i-0123456789abcdefg', state: 'running' })],
    ['a 10 kB id', stateChange({ 'instance-id': `i-${'a'.repeat(10_240)}`, state: 'running' })],
    ['an id with a shell command', stateChange({ 'instance-id': `${ID}; rm -rf /`, state: 'running' })],
    ['an id with a command substitution', stateChange({ 'instance-id': '$(reboot)', state: 'running' })],
    ['an id with backticks', stateChange({ 'instance-id': `\`id\`${ID}`, state: 'running' })],
    ['an id with a trailing newline', stateChange({ 'instance-id': `${ID}\n`, state: 'running' })],
    ['an id with a NUL byte', stateChange({ 'instance-id': `${ID}\u0000`, state: 'running' })],
    [
      'an id with JSON injection',
      stateChange({ 'instance-id': `${ID}","state":"running`, state: 'running' }),
    ],
    ['an id that is a JSON document', stateChange({ 'instance-id': `{"id":"${ID}"}`, state: 'running' })],
    [
      'an id with full-width digits',
      stateChange({ 'instance-id': 'i-０１２３４５６７８９', state: 'running' }),
    ],
    ['a list of ids', stateChange({ 'instance-id': `${ID},i-0123456789abcdef1`, state: 'running' })],
    ['an id wildcard', stateChange({ 'instance-id': 'i-*', state: 'running' })],
    ['a 1 MB detail-type', { ...valid, 'detail-type': 'x'.repeat(1 << 20) }],
    ['a 1 MB instance id', stateChange({ 'instance-id': `i-${'0'.repeat(1 << 20)}`, state: 'running' })],
    ['an event nested 10000 levels deep', { ...valid, detail: undefined, padding: nested(10_000) }],
    [
      'a __proto__ key carrying the detail',
      JSON.parse(`{"source":"aws.ec2","detail-type":"${STATE_CHANGE_DETAIL_TYPE}","region":"us-east-1",
        "__proto__":{"detail":{"instance-id":"${ID}","state":"running"}}}`),
    ],
    [
      'a __proto__ key inside the detail',
      JSON.parse(`{"source":"aws.ec2","detail-type":"${STATE_CHANGE_DETAIL_TYPE}","region":"us-east-1",
        "detail":{"__proto__":{"instance-id":"${ID}","state":"running"}}}`),
    ],
    [
      'a constructor.prototype key',
      JSON.parse(`{"constructor":{"prototype":{"source":"aws.ec2","polluted":true}},"detail":{}}`),
    ],
  ])('logs and ignores %s: no throw, no AWS call, no alert', async (_name, event) => {
    // Act
    const result = await guard()(event);

    // Assess
    expect(result.status).toBe('ignored');
    expect(logs).toEqual([
      expect.objectContaining({ level: 'warn', message: expect.stringContaining('ignored') }),
    ]);
    expect(ec2.calls()).toHaveLength(0);
    expect(alerts).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).detail).toBeUndefined();
  });

  it.each(['pending', 'stopping', 'stopped', 'shutting-down', 'terminated', '', 'RUNNING', 'running '])(
    'ignores the state %j without asking EC2',
    async (state) => {
      const result = await guard()(stateChange({ 'instance-id': ID, state }));

      expect(result).toMatchObject({ status: 'ignored', instanceId: ID });
      expect(logs).toEqual([expect.objectContaining({ message: expect.stringContaining('ignored') })]);
      expect(ec2.calls()).toHaveLength(0);
    },
  );

  it.each<[string, unknown]>([
    ['a foreign event with 1 MB of padding', { ...valid, source: 'custom', padding: 'x'.repeat(1 << 20) }],
    ['a state change with a 1 MB state', stateChange({ 'instance-id': ID, state: 'x'.repeat(1 << 20) })],
  ])('keeps the log line and the answer short for %s', async (_name, event) => {
    const result = await guard()(event);

    expect(result.status).toBe('ignored');
    expect(JSON.stringify(logs).length).toBeLessThan(3_000);
    expect(JSON.stringify(result).length).toBeLessThan(500);
  });

  it.each<[string, () => void]>([
    [
      'DescribeInstances says InvalidInstanceID.NotFound',
      () =>
        ec2
          .on(DescribeInstancesCommand)
          .rejects(awsError('InvalidInstanceID.NotFound', `The instance ID '${ID}' does not exist`)),
    ],
    ['DescribeInstances returns no reservations', () => ec2.on(DescribeInstancesCommand).resolves({})],
    [
      'DescribeInstances returns an empty reservation',
      () => ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [] }] }),
    ],
    [
      'the instance is already terminated',
      () =>
        ec2.on(DescribeInstancesCommand).resolves({
          Reservations: [
            { Instances: [{ InstanceId: ID, InstanceType: 't3.large', State: { Name: 'terminated' } }] },
          ],
        }),
    ],
  ])('logs and ignores an instance that no longer exists (%s), with no alert', async (_name, given) => {
    // Prepare
    given();

    // Act
    const result = await guard()(stateChange());

    // Assess
    expect(result).toMatchObject({ status: 'ignored', instanceId: ID });
    expect(logs.at(-1)).toMatchObject({ level: 'info', message: `launch-guard: ${ID} ignored` });
    expect(alerts).toEqual([]);
    expectNoMutation();
  });

  it('never throws, calls AWS or alerts for any JSON value or object', async () => {
    const handler = guard();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.object(), fc.anything()), async (event) => {
        ec2.reset();
        logs = [];

        const result = await handler(event);

        expect(result.status).toBe('ignored');
        expect(logs).toHaveLength(1);
        expect(logs[0]?.message).toContain('ignored');
        expect(ec2.calls()).toHaveLength(0);
        expect(alerts).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('never changes an instance for a state-change event with any detail when EC2 knows no such instance', async () => {
    const handler = guard();
    const detail = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          'instance-id': fc.oneof(fc.string(), fc.stringMatching(/^i-[0-9a-f]{8,17}$/), fc.jsonValue()),
          state: fc.oneof(fc.constantFrom('running', 'pending', 'stopped'), fc.string(), fc.jsonValue()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(detail, async (d) => {
        ec2.reset();
        ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

        const result = await handler(stateChange(d));

        expect(result.status).toBe('ignored');
        expectNoMutation();
        expect(alerts).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the sweep with arbitrary event payloads', () => {
  const POLICY = policyFile('regions: [us-east-1]\n');

  /** One sweep over a fresh fleet with one idle instance due for a stop and one to warn. */
  async function sweepWith(event: unknown) {
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    for (const [n, tags] of [
      [1, { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' }],
      [2, {}],
    ] as const) {
      const instance = makeInstance({
        instanceId: `i-${String(n).padStart(17, '0')}`,
        tags: { Name: `box-${n}`, Owner: 'alice', ...tags },
      });
      fleet.add({ instance, state: 'running', stopProtected: false });
      fleet.metrics.set(instance.instanceId, idleMetrics());
    }
    const alerts: unknown[] = [];
    const handler = createSweepHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`,
        POLICY_FILE: POLICY,
      },
      services: fleet.services(),
      notifier: { publish: async (a: unknown) => alerts.push(a) } as never,
      log: () => {},
    });
    const summary = await handler(event);
    return { summary, calls: fleet.calls, alerts };
  }

  it('does exactly what a scheduled run does, whatever the event', async () => {
    // Prepare
    const scheduled = await sweepWith({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    expect(scheduled.summary.stopped).toHaveLength(1);
    expect(scheduled.summary.warned).toHaveLength(1);

    // Act + Assess
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.object(), fc.anything()), async (event) => {
        const run = await sweepWith(event);

        expect(run).toEqual(scheduled);
      }),
      { numRuns: Math.max(1, Math.floor(RUNS / 5)) },
    );
  });
});

describe('the actions function with arbitrary requests', () => {
  const KEY = 'test-signing-key-0123456789abcdefghijklmnop';
  const POLICY = policyFile('timeZone: UTC\n');
  let logs: LogRecord[];

  function actions() {
    return createActionsHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`,
        POLICY_FILE: POLICY,
        SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
      },
      keys: new SigningKeyStore(new SSMClient({ region: 'us-east-1' }), NAMES.signingKeyParameter, () => NOW),
      ec2: (region) => new Ec2Adapter(new EC2Client({ region }), region),
      log: (r) => logs.push(r),
    });
  }

  function expectRefusedPage(res: FunctionUrlResponse) {
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toMatch(/^<!doctype html>/i);
    expect(ec2.calls()).toHaveLength(0);
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
  }

  beforeEach(() => {
    ec2.reset();
    ssm.reset();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAMES.signingKeyParameter, Value: KEY } });
    logs = [];
  });

  const request = (method: unknown, extra: Record<string, unknown> = {}) => ({
    version: '2.0',
    requestContext: { http: { method } },
    ...extra,
  });
  const garbage = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc]);

  it.each<[string, unknown, number]>([
    ['a DELETE', request('DELETE', { rawQueryString: 't=x' }), 405],
    ['a PUT', request('PUT'), 405],
    ['an OPTIONS', request('OPTIONS'), 405],
    ['an empty method', request(''), 405],
    ['a method that is a number', request(42), 405],
    ['a method that is an object', request({ toUpperCase: 'GET' }), 405],
    ['a GET without a query', request('GET'), 400],
    [
      'a GET with an empty token',
      request('GET', { rawQueryString: 't=', queryStringParameters: { t: '' } }),
      400,
    ],
    ['a POST without a body or query', request('POST'), 400],
    ['a request without requestContext', { rawQueryString: 'x=1' }, 400],
    ['null', null, 400],
    ['a string', 'GET /?t=v1.a.b', 400],
    ['an array', [request('GET')], 400],
    [
      'a 1 MB token',
      request('GET', { queryStringParameters: { t: `v1.${'A'.repeat(1 << 20)}.${'A'.repeat(43)}` } }),
      400,
    ],
    ['a 1 MB query string', request('GET', { rawQueryString: `t=${'%41'.repeat(350_000)}` }), 400],
    [
      'a POST body that is not UTF-8',
      request('POST', { body: garbage.toString('base64'), isBase64Encoded: true }),
      400,
    ],
    [
      'a POST token with bytes that are not UTF-8',
      request('POST', {
        body: Buffer.concat([Buffer.from('t=v1.'), garbage, Buffer.from(`.${'A'.repeat(43)}`)]).toString(
          'base64',
        ),
        isBase64Encoded: true,
      }),
      400,
    ],
    [
      'a POST body that is not base64',
      request('POST', { body: '%%%not base64%%%', isBase64Encoded: true }),
      400,
    ],
    ['a token that is a number', request('GET', { queryStringParameters: { t: 12345 } }), 400],
    ['a token that is a list', request('GET', { queryStringParameters: { t: ['v1.a.b'] } }), 400],
    ['a query string that is a list', request('GET', { rawQueryString: [['t']] }), 400],
    ['a query string that is a number', request('GET', { rawQueryString: 7 }), 400],
    ['a POST body that is an object', request('POST', { body: { t: 'v1.a.b' }, isBase64Encoded: true }), 400],
    ['a POST body that is a list', request('POST', { body: [1, 2], isBase64Encoded: false }), 400],
    ['a token with HTML', request('GET', { queryStringParameters: { t: '<script>alert(1)</script>' } }), 400],
    [
      'a token with a __proto__ key',
      JSON.parse('{"queryStringParameters":{"__proto__":{"t":"v1.a.b"}}}'),
      400,
    ],
  ])('answers %s with a 4xx HTML page and changes nothing', async (_name, event, status) => {
    // Act
    const res = await actions()(event);

    // Assess
    expectRefusedPage(res);
    expect(res.statusCode).toBe(status);
    expect(res.body).not.toContain('<script>');
  });

  it('answers any JSON value, object or function-URL-shaped request with a 4xx page and no AWS change', async () => {
    const handler = actions();
    const anyValue = fc.oneof(fc.string(), fc.jsonValue(), fc.object());
    const urlEvent = fc.record(
      {
        rawQueryString: fc.oneof(
          fc.string(),
          fc.string().map((t) => `t=${t}`),
          anyValue,
        ),
        queryStringParameters: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.record({ t: anyValue })),
        body: fc.oneof(
          fc.base64String(),
          fc.string(),
          fc.uint8Array().map((b) => Buffer.from(b).toString('base64')),
          anyValue,
        ),
        isBase64Encoded: fc.oneof(fc.boolean(), anyValue),
        requestContext: fc.oneof(
          fc.record({
            http: fc.record({ method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT'), anyValue) }),
          }),
          anyValue,
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(urlEvent, fc.jsonValue(), fc.object()), async (event) => {
        ec2.reset();

        const res = await handler(event);

        expectRefusedPage(res);
      }),
      { numRuns: RUNS },
    );
  });
});
