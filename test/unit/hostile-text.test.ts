/**
 * Hostile tag text, end to end: values a student (or anyone who can tag) may write go in through the real
 * entry points (the EC2 / CloudWatch adapters over aws-sdk-client-mock, the snapshot parser) and come out of
 * every renderer a person reads (sweep summary and owner emails, launch alert, digest, the CLI plan table, the
 * keep / stop page). None of them may carry a control, format or bidi character, start a line of its own, or
 * run longer than its cap.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeAddressesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  DescribeInstanceTypesCommand,
  type DescribeInstanceTypesCommandInput,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Instance as Ec2Instance,
  StopInstancesCommand,
  type StopInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import type { CostServices } from '../../src/aws/cost-services.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { Ec2CostsAdapter } from '../../src/aws/ec2-costs.js';
import { PriceLookup } from '../../src/aws/pricing.js';
import type { SweepServices } from '../../src/aws/services.js';
import { SigningKeyStore } from '../../src/aws/signing-key.js';
import { UsageStore } from '../../src/aws/usage-store.js';
import { setCliServices } from '../../src/cli/fleet.js';
import { main } from '../../src/cli/main.js';
import { type ActionLinks, type LinkAction, signLink } from '../../src/core/action-links.js';
import { renderDigest } from '../../src/core/digest.js';
import { InputError } from '../../src/core/errors.js';
import type { LogRecord } from '../../src/core/log.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { parseRoster } from '../../src/core/provisioning/roster.js';
import { SNAPSHOT_FORMAT } from '../../src/core/snapshot.js';
import { createActionsHandler } from '../../src/handlers/actions.js';
import { createLaunchGuardHandler } from '../../src/handlers/launch-guard.js';
import { parseProvisionEvent } from '../../src/core/provisioning/event.js';
import { runDigest } from '../../src/jobs/digest.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { hoursAgo, NOW, policyWith } from '../support/fleet.js';
import { policyFile } from '../support/policy-file.js';

const ec2 = mockClient(EC2Client);
const cw = mockClient(CloudWatchClient);
const ssm = mockClient(SSMClient);

beforeEach(() => {
  ec2.reset();
  cw.reset();
  ssm.reset();
});

/** What a tag may hold. Every value starts with text of its own so that it could pass for a name. */
const HOSTILE: [string, string][] = [
  ['line breaks and a fake stop link', 'lab\n\nStop it now: https://evil.example/x'],
  ['a carriage return', 'lab\rStop it now: https://evil.example/x'],
  ['CR LF', 'lab\r\nStop it now: https://evil.example/x'],
  ['an ANSI clear-screen', 'lab\x1b[2J\x1b[H'],
  ['an OSC-8 hyperlink', '\x1b]8;;https://evil.example\x07click\x1b]8;;\x07'],
  ['a right-to-left override (U+202E)', 'lab\u202Etxt.exe'],
  ['a bidi isolate (U+2066)', 'lab\u2066evil\u2069'],
  ['zero-width characters', 'l\u200Da\u200Bb\u200C\uFEFF\u00AD'],
  ['a line separator (U+2028)', 'lab\u2028Stop it now: https://evil.example/x\u2029'],
  ['a next-line control (U+0085)', 'lab\u0085Stop it now: https://evil.example/x'],
  ['5,000 characters', 'x'.repeat(5000)],
  ['lone surrogates', 'lab\uD800 \uDC00'],
  ['tabs, vertical tab, form feed', 'lab\tx\vy\fz'],
];
const BENIGN = 'benign-lab';

/** Characters no output may hold (per line: the renderers' own line breaks are fine). */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/** The lines of `text` that hold an unsafe character, start with the fake link, or run past the caps. */
function faults(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => UNSAFE.test(l) || /^\s*Stop it now: https:\/\/evil/.test(l) || /x{257}/.test(l));
}

/** Asserts the text is clean; returns its line count (compared with the benign run's). */
function clean(text: string): number {
  expect(faults(text)).toEqual([]);
  return text.split('\n').length;
}

/** An alert as SNS sends it: subject, email text, the JSON for other protocols, and the owner attribute. */
function cleanAlert(a: Alert): number {
  clean(a.subject);
  expect(a.subject.split('\n')).toHaveLength(1);
  clean(JSON.stringify(a.data));
  if (a.owner !== undefined) {
    clean(a.owner);
    expect(Array.from(a.owner).length).toBeLessThanOrEqual(256);
  }
  return clean(a.text);
}

const ACCOUNT = '123456789012';
const WARN = 'i-0000000000000a001';
const STOP = 'i-0000000000000a002';
const EXEMPT = 'i-0000000000000a003';
const ALICE = 'i-0000000000000a004';

function ec2Instance(
  id: string,
  tags: Record<string, string>,
  extra: Partial<Ec2Instance> = {},
): Ec2Instance {
  return {
    InstanceId: id,
    InstanceType: 't3.micro',
    LaunchTime: new Date(hoursAgo(30)),
    State: { Name: 'running' },
    RootDeviceType: 'ebs',
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...extra,
  };
}

/**
 * A fleet where `value` is the Name, the Owner and another tag of three instances over their uptime limit: one
 * to warn, one warned two hours ago (stopped now), one exempt with `value` as the exempt tag (reported, its
 * reason quoting the value); and alice's instance, to warn, as the control.
 */
function givenFleet(value: string) {
  const tags = { Name: value, Owner: value, Course: value };
  const instances = [
    ec2Instance(WARN, tags),
    ec2Instance(STOP, { ...tags, [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'over-uptime' }),
    ec2Instance(EXEMPT, { ...tags, [TAGS.exempt]: value }),
    ec2Instance(ALICE, { Name: 'alice-box', Owner: 'alice' }),
  ];
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });
  ec2.on(DescribeInstanceTypesCommand).callsFake((input: DescribeInstanceTypesCommandInput) => ({
    InstanceTypes: (input.InstanceTypes ?? []).map((t) => ({
      InstanceType: t,
      FreeTierEligible: t === 't3.micro',
    })),
  }));
  ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: false } });
  ec2.on(CreateTagsCommand).resolves({});
  ec2.on(DeleteTagsCommand).resolves({});
  ec2.on(StopInstancesCommand).callsFake((input: StopInstancesCommandInput) => ({
    StoppingInstances: (input.InstanceIds ?? []).map((id) => ({
      InstanceId: id,
      CurrentState: { Name: 'stopping' },
      PreviousState: { Name: 'running' },
    })),
  }));
  cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
  cw.on(GetMetricStatisticsCommand).resolves({ Datapoints: [] });
}

function sweepServices(): SweepServices {
  return {
    ec2: (t) => new Ec2Adapter(new EC2Client({ region: t.region }), t.region),
    metrics: () => new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' })),
  };
}

/** Genuine links, as the sweep puts them in warnings. */
function links(ids: string[]): Map<string, ActionLinks> {
  const at = (a: string, id: string) => `https://actions.example/?t=${a}-${id}`;
  return new Map(
    ids.map((id) => [
      id,
      {
        keep4h: at('keep4h', id),
        keepTomorrow: at('keepTomorrow', id),
        stop: at('stop', id),
        expiresAt: '2026-11-26T14:00:00.000Z',
        keepTomorrowUntil: '2026-11-26T09:00:00.000Z',
      },
    ]),
  );
}

async function sweep(value: string) {
  givenFleet(value);
  const alerts: Alert[] = [];
  const report = await runSweep({
    policy: policyWith(),
    now: NOW,
    targets: [{ region: 'us-east-1' }],
    services: sweepServices(),
    publish: async (a) => alerts.push(a),
    actionLinks: async (warned) => links(warned.map((d) => d.instanceId)),
  });
  return { report, alerts };
}

describe('hostile tag text in the sweep emails (summary and owner)', () => {
  it.each(HOSTILE)('keeps %s out of every email, on the instance’s own line', async (_case, value) => {
    // Prepare: the same fleet with a benign value, for the shape of each email
    const benign = await sweep(BENIGN);

    // Act
    const { report, alerts } = await sweep(value);

    // Assess: the same decisions, the same emails, line for line
    expect(report.stopped).toEqual([STOP]);
    expect(report.warned.sort()).toEqual([WARN, ALICE].sort());
    expect(alerts.map((a) => a.owner === undefined)).toEqual(benign.alerts.map((a) => a.owner === undefined));
    const [summary, ...owners] = alerts;
    const [benignSummary, ...benignOwners] = benign.alerts;
    expect(cleanAlert(summary as Alert)).toBe((benignSummary as Alert).text.split('\n').length);
    const hostileOwner = owners.find((a) => a.owner !== 'alice') as Alert;
    const benignOwner = benignOwners.find((a) => a.owner === BENIGN) as Alert;
    expect(cleanAlert(hostileOwner)).toBe(benignOwner.text.split('\n').length);
    // The genuine links are there; alice's email goes to alice alone
    expect(summary?.text).toContain(`    Stop it now: https://actions.example/?t=stop-${WARN}`);
    expect(owners.filter((a) => a.owner === 'alice')).toHaveLength(1);
    expect(hostileOwner.owner).not.toBe('alice');
    expect(hostileOwner.text).not.toContain('alice-box');
  });

  it('shows a 5,000-character name, owner and exempt value at 256 characters each', async () => {
    const { alerts } = await sweep('x'.repeat(5000));

    const summary = alerts[0] as Alert;
    const capped = `${'x'.repeat(253)}...`;
    expect(summary.text).toContain(
      `- ${WARN} (t3.micro, us-east-1, ${capped}, owner ${capped}): over uptime`,
    );
    expect(summary.text).toContain(`exempt (tag ${TAGS.exempt}="${capped}" is not true/false or a date`);
    expect(alerts.find((a) => a.owner !== undefined && a.owner !== 'alice')?.owner).toBe(capped);
  });
});

describe('hostile tag text in the launch alert', () => {
  const ID = 'i-0123456789abcdef0';

  async function launch(value: string) {
    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            ec2Instance(
              ID,
              { Name: value, Owner: value },
              {
                InstanceType: 't3.large',
                LaunchTime: NOW,
                SecurityGroups: [{ GroupId: 'sg-1' }],
              },
            ),
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [{ InstanceType: 't3.large', FreeTierEligible: false }],
    });
    ec2.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: 'sg-1',
          GroupName: value,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        },
      ],
    });
    const alerts: Alert[] = [];
    const logs: LogRecord[] = [];
    const client = new EC2Client({ region: 'us-east-1' });
    const services: CostServices = {
      ec2: (t) => new Ec2Adapter(client, t.region),
      costs: (t) => new Ec2CostsAdapter(client, t.region),
      prices: new PriceLookup(),
      usage: new UsageStore(new SSMClient({ region: 'us-east-1' })),
    };
    const handler = createLaunchGuardHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`,
        POLICY_FILE: policyFile(''),
      },
      services,
      notifier: { publish: async (a) => alerts.push(a) },
      log: (r) => logs.push(r),
    });
    const result = await handler({
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      account: ACCOUNT,
      region: 'us-east-1',
      detail: { 'instance-id': ID, state: 'running' },
    });
    return { result, alerts, logs };
  }

  it.each(HOSTILE)(
    'keeps %s out of the alert (name, owner, security group name) and the log',
    async (_c, value) => {
      // Prepare
      const benign = await launch(BENIGN);

      // Act
      const { result, alerts, logs } = await launch(value);

      // Assess: an alert for the admin and a copy for the owner, shaped like the benign ones
      expect(result.status).toBe('alerted');
      expect(alerts).toHaveLength(2);
      for (const [k, a] of alerts.entries()) {
        expect(cleanAlert(a)).toBe(benign.alerts[k]?.text.split('\n').length);
      }
      expect(alerts[0]?.text).toContain('- open-to-world: security group open to the world: sg-1 (');
      clean(JSON.stringify(logs));
    },
  );
});

describe('hostile tag text in the daily digest', () => {
  async function digest(value: string) {
    ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      const stops = input.Filters?.some((f) => f.Name === 'tag-key');
      const instance = stops
        ? ec2Instance(
            'i-0000000000000b001',
            {
              Name: value,
              Owner: value,
              [TAGS.stoppedAt]: hoursAgo(3),
              [TAGS.stopReason]: value,
            },
            { State: { Name: 'stopped' }, LaunchTime: new Date(hoursAgo(30)) },
          )
        : ec2Instance(WARN, {
            Name: value,
            Owner: value,
            [TAGS.warnedAt]: hoursAgo(2),
            [TAGS.warnRule]: value,
          });
      return { Reservations: [{ Instances: [instance] }] };
    });
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [{ InstanceType: 't3.micro', FreeTierEligible: true }],
    });
    ec2.on(DescribeVolumesCommand).resolves({
      Volumes: [
        {
          VolumeId: 'vol-1',
          State: 'available',
          Size: 8,
          VolumeType: 'gp3',
          Tags: [{ Key: 'Name', Value: value }],
        },
      ],
    });
    ec2.on(DescribeAddressesCommand).resolves({});
    // The month ledger holds an owner name written before tags were cleaned (or edited in SSM by hand)
    ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
      const values: Record<string, string> = {
        '/cost-watchdog/usage/2026-11': JSON.stringify({ instanceHours: 4, estimatedCostUsd: 4, ownerShards: 1 }),
        '/cost-watchdog/usage/2026-11/owners-1': JSON.stringify({ [value]: [2, 2], alice: [2, 2] }),
      };
      const found = values[input.Name];
      if (found === undefined) throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
      return { Parameter: { Name: input.Name, Value: found } };
    });
    const client = new EC2Client({ region: 'us-east-1' });
    const d = await runDigest({
      policy: policyWith(),
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: {
        ec2: (t) => new Ec2Adapter(client, t.region),
        costs: (t) => new Ec2CostsAdapter(client, t.region),
        prices: new PriceLookup(),
        usage: new UsageStore(new SSMClient({ region: 'us-east-1' })),
      },
    });
    return renderDigest(d);
  }

  it.each(HOSTILE)(
    'keeps %s out of the digest (running, owners, warnings, stops, volumes)',
    async (_c, value) => {
      // Prepare
      const benign = await digest(BENIGN);

      // Act
      const alert = await digest(value);

      // Assess
      expect(cleanAlert(alert)).toBe(benign.text.split('\n').length);
      expect(alert.text).toMatch(
        /Warnings pending \(1\):\n {2}- i-0000000000000a001 \(us-east-1, .+\) .+, warned /,
      );
      expect(alert.text).toMatch(/Stops \(1\):\n {2}- i-0000000000000b001 \(us-east-1, .+\) at .+: .+\n/);
    },
  );
});

describe('hostile tag text in the CLI plan (live and from a snapshot)', () => {
  async function cli(...argv: string[]) {
    const out: string[] = [];
    const code = await main(argv, { out: (t) => out.push(t), err: (t) => out.push(t), env: {} });
    return { code, text: out.join('\n') };
  }

  async function livePlan(value: string) {
    givenFleet(value);
    setCliServices(sweepServices);
    return cli('plan', '--region', 'us-east-1', '--policy', policyFile(''), '--at', NOW.toISOString());
  }

  it.each(HOSTILE)('keeps %s out of the terminal in a live plan', async (_c, value) => {
    // Prepare
    const benign = await livePlan(BENIGN);

    // Act
    const { code, text } = await livePlan(value);

    // Assess: a table row per instance, names cut at the column width (24), owners at 16
    expect(code).toBe(0);
    expect(clean(text)).toBe(benign.text.split('\n').length);
    // one row of at most 19 + 24 + 8 + 9 + 16 + 6 + 11 characters and 2 between columns
    const row = text.split('\n').find((l) => l.startsWith(WARN)) as string;
    expect(row).toMatch(/ {2}t3\.micro {2}us-east-1 {2}.+ {2}WARN {4}over-uptime$/);
    expect(Array.from(row).length).toBeLessThanOrEqual(19 + 24 + 8 + 9 + 16 + 6 + 11 + 6 * 2);
  });

  function snapshotFile(value: string): string {
    const instance = (id: string, tags: Record<string, string>) => ({
      instanceId: id,
      region: 'us-east-1',
      instanceType: 't3.micro',
      launchTime: hoursAgo(30),
      tags,
      typeInfo: { freeTierEligible: true, gpu: false },
    });
    const tags = { Name: value, Owner: value, Course: value };
    const file = join(mkdtempSync(join(tmpdir(), 'cw-hostile-')), 'fleet.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: SNAPSHOT_FORMAT,
        takenAt: NOW.toISOString(),
        description: `class ${value}`,
        instances: [
          instance(WARN, tags),
          instance(STOP, { ...tags, [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'over-uptime' }),
          instance(EXEMPT, { ...tags, [TAGS.exempt]: value }),
          instance(ALICE, { Name: 'alice-box', Owner: 'alice' }),
        ],
      }),
    );
    return file;
  }

  it.each(HOSTILE)('keeps %s out of the terminal in plan --snapshot', async (_c, value) => {
    // Prepare
    const benign = await cli('plan', '--snapshot', snapshotFile(BENIGN), '--policy', policyFile(''));

    // Act
    const { code, text } = await cli('plan', '--snapshot', snapshotFile(value), '--policy', policyFile(''));

    // Assess
    expect(code).toBe(0);
    expect(clean(text)).toBe(benign.text.split('\n').length);
    expect(text).toMatch(/1 to stop, 2 to warn, 1 reported only, 0 fine\./);
  });

  it('keeps hostile text out of the terminal when the snapshot itself is broken', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cw-hostile-')), 'fleet.json');
    writeFileSync(file, `{"format": "${SNAPSHOT_FORMAT}", "instances": [\x1b]8;;https://evil.example\x07`);

    const { code, text } = await cli('plan', '--snapshot', file);

    expect(code).toBe(1);
    expect(text).toMatch(/not valid JSON/);
    clean(text);
  });
});

describe('hostile tag text on the keep / stop page', () => {
  const KEY = 'test-signing-key-0123456789abcdefghijklmnop';
  const ID = 'i-0abc1234def567890';
  const POLICY = policyFile('timeZone: UTC\n');
  // The warning the link answers (links are bound to it).
  const WARNED_AT = hoursAgo(1);

  async function page(value: string, action: LinkAction) {
    ec2.reset();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAMES.signingKeyParameter, Value: KEY } });
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            ec2Instance(ID, { Name: value, Owner: value, [TAGS.exempt]: value, [TAGS.warnedAt]: WARNED_AT }),
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: false } });
    const logs: LogRecord[] = [];
    const handler = createActionsHandler({
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
    const token = signLink(
      {
        instanceId: ID,
        region: 'us-east-1',
        account: ACCOUNT,
        action,
        exp: Math.floor(NOW.getTime() / 1000) + 3600,
        warnedAt: Math.floor(Date.parse(WARNED_AT) / 1000),
      },
      KEY,
    );
    const res = await handler({
      body: Buffer.from(new URLSearchParams({ t: token }).toString()).toString('base64'),
      isBase64Encoded: true,
      requestContext: { http: { method: 'POST' } },
    });
    return { res, logs };
  }

  it.each(HOSTILE.flatMap(([c, v]) => (['keep4h', 'stop'] as const).map((a) => [c, a, v] as const)))(
    'keeps %s out of the %s page (its reason quotes the exempt tag)',
    async (_c, action, value) => {
      // Prepare
      const benign = await page(BENIGN, action);

      // Act
      const { res, logs } = await page(value, action);

      // Assess: the instance is never stopped (exempt), and the page says so in clean text
      expect(res.statusCode).toBe(benign.res.statusCode);
      expect(res.body).toContain(`exempt (tag ${TAGS.exempt}=&quot;`);
      expect(clean(res.body)).toBe(benign.res.body.split('\n').length);
      clean(JSON.stringify(logs));
      expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(0);
    },
  );
});

describe('hostile text typed by users (CLI arguments, handler events, roster rows)', () => {
  const SEQUENCE = '\x1b]8;;https://evil.example\x07x\u202E\n\nStop it now: https://evil.example/x';

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const code = await main(argv, { out: (t) => out.push(t), err: (t) => out.push(t), env: {} });
    return { code, text: out.join('\n') };
  }

  it.each([
    ['an unknown command', [`plan${SEQUENCE}`]],
    ['an unknown flag', ['plan', `--x${SEQUENCE}`]],
    ['an unexpected argument', ['plan', SEQUENCE]],
    ['an unknown region', ['plan', '--region', `us-east-1${SEQUENCE}`]],
    ['a bad --at', ['plan', '--at', SEQUENCE]],
    ['a bad topic ARN', ['sweep', '--region', 'us-east-1', '--topic-arn', SEQUENCE]],
    ['a missing snapshot file', ['plan', '--snapshot', `/nonexistent/${SEQUENCE}`]],
  ])('answers %s in one clean line per message', async (_case, argv) => {
    const { code, text } = await cli(...argv);

    expect(code).toBeGreaterThan(0);
    expect(clean(text)).toBeLessThanOrEqual(2);
  });

  it('logs an EC2 state it does not act on, and an event it ignores, in clean text', async () => {
    // Prepare
    const logs: LogRecord[] = [];
    const handler = createLaunchGuardHandler({
      clock: () => NOW,
      env: { AWS_REGION: 'us-east-1', TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts` },
      log: (r) => logs.push(r),
    });
    const event = (detail: Record<string, unknown>) => ({
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      region: 'us-east-1',
      detail: { 'instance-id': 'i-0123456789abcdef0', ...detail },
    });

    // Act
    const odd = await handler(event({ state: 'stopped\x1b[2J\u202E\n\u2028x' }));
    const bad = await handler(event({ state: 7, [`k${SEQUENCE}`]: SEQUENCE }));

    // Assess
    expect(odd).toMatchObject({ status: 'ignored', reason: 'state stopped?[2J?  x, not running' });
    expect(bad.status).toBe('ignored');
    clean(JSON.stringify(odd));
    clean(JSON.stringify(bad));
    clean(JSON.stringify(logs));
    expect(logs).toHaveLength(2);
  });

  it('names a bad roster header and a bad row in clean text', () => {
    expect(() => parseRoster(`user,email,cidr,${SEQUENCE}\n`)).toThrow(InputError);
    try {
      parseRoster(`user,email,cidr,${SEQUENCE}\n`);
    } catch (err) {
      clean((err as Error).message);
    }

    const [row] = parseRoster(`"ali\u202Ece${SEQUENCE}",a@example.edu,203.0.113.7\n`);

    expect(row?.ok).toBe(false);
    clean(JSON.stringify(row));
  });

  it('names a bad provisioning entry in clean text', () => {
    const parsed = parseProvisionEvent({ users: [{ user: `ali${SEQUENCE}`, email: 'x', cidr: 'y' }] });

    expect(parsed.rows[0]?.ok).toBe(false);
    clean(JSON.stringify(parsed.rows));
    expect(() => parseProvisionEvent({ action: SEQUENCE })).toThrow(/action: ".*" is unknown/);
    try {
      parseProvisionEvent({ action: SEQUENCE });
    } catch (err) {
      clean((err as Error).message);
    }
  });
});

describe('table columns', () => {
  it('cut a name of emoji at the column width without splitting one in half', async () => {
    // Prepare: clean text, but each emoji is two UTF-16 units
    givenFleet('💻'.repeat(40));
    setCliServices(sweepServices);

    // Act
    const out: string[] = [];
    await main(['plan', '--region', 'us-east-1', '--policy', policyFile(''), '--at', NOW.toISOString()], {
      out: (t) => out.push(t),
      err: (t) => out.push(t),
      env: {},
    });

    // Assess: 23 emoji and the cut mark, then the next column where the others have it
    const rows = out.join('\n').split('\n');
    clean(rows.join('\n'));
    const row = rows.find((l) => l.startsWith(WARN)) as string;
    expect(row).toContain(`${WARN}  ${'💻'.repeat(23)}~  t3.micro`);
    const alice = rows.find((l) => l.startsWith(ALICE)) as string;
    expect(Array.from(row).indexOf('t')).toBe(Array.from(alice).indexOf('t'));
  });
});
