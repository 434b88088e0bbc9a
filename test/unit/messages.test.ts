import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { PriceLookup } from '../../src/aws/pricing.js';
import { buildDigest, renderDigest } from '../../src/core/digest.js';
import { type Decision, evaluate } from '../../src/core/evaluate.js';
import type { Instance } from '../../src/core/instance.js';
import { checkLaunch, renderLaunchAlert } from '../../src/core/launch-check.js';
import { formatLocalTime, localizeTimes, nextRun, nextRunText } from '../../src/core/local-time.js';
import { type Policy, TAGS } from '../../src/core/policy.js';
import { bundledPrice } from '../../src/core/prices.js';
import { renderOwnerAlert, renderPlanTable, renderSweepAlert } from '../../src/core/render.js';
import type { SweepReport } from '../../src/core/report.js';
import { renderBudgetAlert, usageSinceLastSweep } from '../../src/core/usage.js';
import {
  busyMetrics,
  digestInput,
  hoursAgo,
  idleMetrics,
  makeInstance,
  NOW,
  policyWith,
} from '../support/fleet.js';

const pricing = mockClient(PricingClient);

beforeEach(() => {
  pricing.reset();
});

/** Anything a person should never read in an email or a page: ISO times, policy keys, "tag it". */
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const JARGON = /minRunningMinutes|nonFreeTier|allowedTypes|budget\.monthlyUsd|maxRunningHours|\bgrace\b/;
const TAG_ADVICE = /tag it|cost-watchdog:exempt|YYYY-MM-DD/;

function report(decisions: Decision[], changes: Partial<SweepReport> = {}): SweepReport {
  return {
    at: NOW.toISOString(),
    dryRun: false,
    scopes: [{ region: 'us-east-1', instances: decisions.length, ok: true }],
    instancesSeen: decisions.length,
    decisions,
    warned: decisions.filter((d) => d.action === 'warn').map((d) => d.instanceId),
    stopped: decisions.filter((d) => d.action === 'stop').map((d) => d.instanceId),
    cleared: [],
    postponed: [],
    errors: [],
    alertsSent: 0,
    ...changes,
  };
}

describe('times as people read them', () => {
  it.each([
    ['UTC', '2026-03-03T13:40:00Z', 'Tue 3 Mar 13:40 (UTC)'],
    ['Europe/Berlin', '2026-03-29T00:30:00Z', 'Sun 29 Mar 01:30 (Europe/Berlin)'],
    ['Europe/Berlin', '2026-03-29T01:30:00Z', 'Sun 29 Mar 03:30 (Europe/Berlin)'],
    ['America/New_York', '2026-11-01T05:30:00Z', 'Sun 1 Nov 01:30 (America/New_York)'],
    ['America/New_York', '2026-11-01T06:30:00Z', 'Sun 1 Nov 01:30 (America/New_York)'],
  ])('formats a time in %s (DST changes included): %s', (zone, iso, shown) => {
    expect(formatLocalTime(new Date(iso), zone)).toBe(shown);
  });

  it('rewrites every ISO time in a text in the zone and leaves the rest alone', () => {
    const text =
      'warned at 2026-03-28T23:00:00.000Z; will be stopped after 2026-03-29T02:00:00.000Z unless this changes';

    expect(localizeTimes(text, 'Europe/Berlin')).toBe(
      'warned at Sun 29 Mar 00:00 (Europe/Berlin); will be stopped after Sun 29 Mar 04:00 (Europe/Berlin) unless this changes',
    );
    expect(localizeTimes('exempt (tag x="2026-12-01")', 'Europe/Berlin')).toBe('exempt (tag x="2026-12-01")');
  });

  it.each([
    ['rate(1 hour)', { kind: 'rate', everyMinutes: 60, by: new Date('2026-11-25T15:00:00Z') }],
    ['rate(30 minutes)', { kind: 'rate', everyMinutes: 30, by: new Date('2026-11-25T14:30:00Z') }],
    ['cron(0 * * * ? *)', { kind: 'cron', at: new Date('2026-11-25T15:00:00Z') }],
    ['cron(0/15 * * * ? *)', { kind: 'cron', at: new Date('2026-11-25T14:15:00Z') }],
    ['cron(0 8 * * ? *)', { kind: 'cron', at: new Date('2026-11-26T08:00:00Z') }],
    // NOW is a Wednesday: the next Monday-only run is on the 30th
    ['cron(30 7 ? * MON *)', { kind: 'cron', at: new Date('2026-11-30T07:30:00Z') }],
    ['cron(0 9 ? * 2-6 *)', { kind: 'cron', at: new Date('2026-11-26T09:00:00Z') }],
    ['cron(0 12 L * ? *)', { kind: 'unknown' }],
  ])('knows when %s runs next', (schedule, expected) => {
    expect(nextRun(schedule, NOW)).toEqual(expected);
  });

  it('says when the sweep runs next in the policy zone', () => {
    expect(nextRunText('rate(1 hour)', NOW, 'Europe/Berlin')).toBe(
      'runs every hour; the next run is by Wed 25 Nov 16:00 (Europe/Berlin)',
    );
    expect(nextRunText('cron(0 8 * * ? *)', NOW, 'Asia/Tokyo')).toBe(
      'runs on the schedule cron(0 8 * * ? *); the next run is at Thu 26 Nov 17:00 (Asia/Tokyo)',
    );
  });
});

/** One warned decision per rule, under a policy where every rule may stop. */
function warnedPerRule(policy: Policy) {
  const idle = evaluate(
    makeInstance({ tags: { Name: 'notebook', Owner: 'alice' } }),
    idleMetrics(),
    policy,
    NOW,
  );
  const long = evaluate(
    makeInstance({ launchTime: hoursAgo(30), tags: { Name: 'trainer', Owner: 'alice' } }),
    busyMetrics(),
    policy,
    NOW,
  );
  const big = evaluate(
    makeInstance({ instanceType: 't3.large', typeInfo: { freeTierEligible: false, gpu: false } }),
    busyMetrics(),
    policy,
    NOW,
  );
  const budget = evaluate(makeInstance({ tags: { Owner: 'alice' } }), busyMetrics(), policy, NOW, {
    budget: { estimateUsd: 120, limitUsd: 100 },
  });
  return { idle, 'over-uptime': long, 'non-free-tier': big, 'over-budget': budget };
}

describe('owner emails in plain words per rule', () => {
  const policy = policyWith({
    timeZone: 'Europe/Berlin',
    nonFreeTier: { action: 'stop' },
    budget: { monthlyUsd: 100, action: 'stop' },
  });
  const decisions = warnedPerRule(policy);

  it('warns per rule: why, when it stops in local time, and whether using it changes anything', () => {
    // Prepare
    expect(Object.entries(decisions).map(([rule, d]) => [rule, d.action, d.rule])).toEqual(
      Object.keys(decisions).map((rule) => [rule, 'warn', rule]),
    );

    // Act
    const alert = renderOwnerAlert(report(Object.values(decisions)), policy, 'alice');

    // Assess: one heading per rule, in plain words
    const sections = alert.text.split('\n\n');
    const section = (heading: string) => sections.find((s) => s.startsWith(heading)) ?? '';
    expect(section('Idle (1):')).toContain(
      'It has been idle: CPU averaged 0.50% (limit 5%) and network 0.24 MB (limit 5 MB) over the last 2 h.',
    );
    expect(section('Idle (1):')).toContain(
      'It will be stopped after Wed 25 Nov 16:00 (Europe/Berlin). Using it again (CPU or network above the limits) cancels the stop.',
    );
    expect(section('Running too long (1):')).toContain(
      'It has run 30.0 h since its last start; the limit is 24 h.',
    );
    expect(section('Not free tier (1):')).toContain(
      'Its type t3.large is not free-tier eligible in this account and is not on the list of types allowed here.',
    );
    expect(section('Over budget (1):')).toContain(
      "The account's estimated EC2 cost this month ($120.00) has reached its monthly budget ($100.00).",
    );
    for (const heading of ['Running too long (1):', 'Not free tier (1):', 'Over budget (1):']) {
      expect(section(heading)).toContain('Using it does not change this');
      expect(section(heading)).not.toMatch(/unless|cancels/);
    }
    expect(alert.text).not.toMatch(ISO);
    expect(alert.text).not.toMatch(JARGON);
    expect(alert.text).not.toMatch(TAG_ADVICE);
    expect(alert.text).toContain('ask your instructor or administrator');
  });

  it('says why each stopped instance was stopped, without policy keys', () => {
    // Prepare: the idle instance was warned two hours ago, so this run stops it
    const warned = makeInstance({
      tags: { Owner: 'alice', Name: 'nb', [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' },
    });
    const d = evaluate(warned, idleMetrics(), policy, NOW);

    // Act
    const alert = renderOwnerAlert(report([d]), policy, 'alice');

    // Assess
    expect(d.action).toBe('stop');
    expect(alert.text).toContain(
      `- nb (${d.instanceId}, t3.micro, us-east-1): stopped because it has been idle: CPU averaged 0.50%`,
    );
    expect(alert.text).not.toMatch(ISO);
  });

  it('points to the keep links (never a tag) when the email has them', () => {
    const d = decisions.idle;
    const links = new Map([
      [
        d.instanceId,
        {
          keep4h: 'https://a.example/?t=k',
          keepTomorrow: 'https://a.example/?t=t',
          stop: 'https://a.example/?t=s',
          expiresAt: '2026-11-26T14:00:00.000Z',
          keepTomorrowUntil: '2026-11-26T08:00:00.000Z',
        },
      ],
    ]);

    const alert = renderOwnerAlert(report([d]), policy, 'alice', links);

    expect(alert.text).toContain(
      '  Keep it running until Thu 26 Nov 09:00 (Europe/Berlin): https://a.example/?t=t',
    );
    expect(alert.text).toContain(
      'To keep an instance running longer, use its keep link above (the links work until Thu 26 Nov 15:00 (Europe/Berlin)), or ask your instructor or administrator.',
    );
    expect(alert.text).not.toMatch(TAG_ADVICE);
  });

  it('keeps ISO times in the JSON', () => {
    const alert = renderOwnerAlert(report([decisions.idle]), policy, 'alice');
    const data = alert.data as { at: string; decisions: { stopAfter: string; reasons: string[] }[] };
    expect(data.at).toBe(NOW.toISOString());
    expect(data.decisions[0]?.stopAfter).toBe('2026-11-25T15:00:00.000Z');
    expect(data.decisions[0]?.reasons.at(-1)).toBe(
      'will be stopped after 2026-11-25T15:00:00.000Z unless this changes',
    );
  });
});

describe('the admin email and the plan', () => {
  const policy = policyWith({ timeZone: 'Europe/Berlin' });
  const idle = evaluate(makeInstance(), idleMetrics(), policy, NOW);

  it('shows times in the policy zone and still says how the admin exempts an instance', () => {
    const alert = renderSweepAlert(report([idle]), policy);

    expect(alert.text).toMatch(/^cost-watchdog sweep at Wed 25 Nov 2026 15:00 \(Europe\/Berlin\)/);
    expect(alert.text).toContain(
      'will be stopped after Wed 25 Nov 16:00 (Europe/Berlin) unless this changes',
    );
    expect(alert.text).not.toMatch(ISO);
    expect(alert.text).toContain(`tag it ${TAGS.exempt}=true`);
  });

  it('shows each error as operation and AWS error code, never stack-ish text (the JSON keeps it whole)', () => {
    const message =
      'UnauthorizedOperation: You are not authorized to perform this operation. Encoded authorization failure message: AbC123\n    at Object.deserialize (node_modules/x.js:1:2)';
    const errors = [
      { region: 'eu-west-1', operation: 'ec2:DescribeInstances', message },
      {
        region: 'us-east-1',
        instanceId: 'i-1',
        operation: 'StopInstances',
        message: 'Error: socket hang up\n  at x',
      },
    ];

    const alert = renderSweepAlert(report([idle], { errors }), policy);

    expect(alert.text).toContain('- eu-west-1 ec2:DescribeInstances: UnauthorizedOperation\n');
    expect(alert.text).toContain('- us-east-1 i-1 StopInstances: socket hang up\n');
    expect(alert.text).not.toMatch(/Encoded|deserialize|node_modules/);
    expect((alert.data as { errors: { message: string }[] }).errors[0]?.message).toBe(message);
  });

  it('shows the plan reasons in the policy zone', () => {
    const table = renderPlanTable([idle], 'Europe/Berlin');
    expect(table).toContain('- will be stopped after Wed 25 Nov 16:00 (Europe/Berlin) unless this changes');
    expect(table).not.toMatch(ISO);
  });
});

describe('the launch alert', () => {
  const policy = policyWith({ timeZone: 'Europe/Berlin' });
  const large = (changes: Partial<Instance> = {}) =>
    makeInstance({
      instanceType: 't3.large',
      launchTime: NOW.toISOString(),
      typeInfo: { freeTierEligible: false, gpu: false },
      ...changes,
    });

  it('says "price list unavailable, table price used", never the Price List error', async () => {
    // Prepare: the Price List API answers with something that is not JSON
    pricing.on(GetProductsCommand).rejects(new SyntaxError('Unexpected token < in JSON at position 0'));
    const price = await new PriceLookup(new PricingClient({ region: 'us-east-1' })).hourly(
      't3.large',
      'us-east-1',
    );

    // Act
    const alert = renderLaunchAlert(checkLaunch(large(), [], price, policy, NOW), policy, { now: NOW });

    // Assess
    expect(alert.text).toContain('Price:  $0.0832/h, about $2.00/day (estimate, table)');
    expect(alert.text).toContain('price list unavailable, table price used');
    expect(alert.text).not.toMatch(/SyntaxError|Unexpected token/);
  });

  it('says what the sweep will do next and when, in local time', () => {
    const v = checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), policy, NOW);

    const alert = renderLaunchAlert(v, policy, { now: NOW });

    expect(v.action).toBe('alert');
    expect(alert.text).toContain('started in us-east-1 at Wed 25 Nov 15:00 (Europe/Berlin).');
    expect(alert.text).toContain(
      'What happens: alert only now; the sweep will warn it when it is idle (CPU under 5% and network under 5 MB over 2 h), or when it is still running at Wed 25 Nov 23:00 (Europe/Berlin), 8 h after its start; it stops it 60 min after the warning.',
    );
    expect(alert.text).toContain(
      'The sweep runs every hour; the next run is by Wed 25 Nov 16:00 (Europe/Berlin).',
    );
    expect(alert.text).not.toMatch(ISO);
    expect((alert.data as { launchTime: string }).launchTime).toBe(NOW.toISOString());
  });

  it('names the next run of a cron schedule', () => {
    const cron = policyWith({ timeZone: 'Europe/Berlin', schedule: 'cron(0/20 * * * ? *)' });
    const v = checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), cron, NOW);
    expect(renderLaunchAlert(v, cron, { now: NOW }).text).toContain(
      'The sweep runs on the schedule cron(0/20 * * * ? *); the next run is at Wed 25 Nov 15:20 (Europe/Berlin).',
    );
  });

  it("gives the owner plain words and never tells them to tag (the admin's says how to exempt)", () => {
    const stopPolicy = policyWith({ timeZone: 'Europe/Berlin', nonFreeTier: { action: 'stop' } });
    const v = checkLaunch(large(), [], bundledPrice('t3.large', 'us-east-1'), stopPolicy, NOW);

    const admin = renderLaunchAlert(v, stopPolicy, { now: NOW });
    const owner = renderLaunchAlert(v, stopPolicy, { now: NOW, audience: 'owner' });

    expect(v.action).toBe('warn');
    expect(admin.text).toMatch(TAG_ADVICE);
    expect(owner.text).toContain(
      'It will be stopped after Wed 25 Nov 16:00 (Europe/Berlin), because its type is not allowed here. Using it does not change this',
    );
    expect(owner.text).toContain('ask your instructor or administrator');
    expect(owner.text).not.toMatch(TAG_ADVICE);
    expect(owner.text).not.toMatch(JARGON);
    expect(owner.text).not.toMatch(ISO);
  });

  it('shows an unknown price as "?"', () => {
    const v = checkLaunch(
      large({ instanceType: 'x9z.mega' }),
      [],
      bundledPrice('x9z.mega', 'us-east-1'),
      policy,
      NOW,
    );
    expect(renderLaunchAlert(v, policy, { now: NOW }).text).toContain('Price:  ? (unknown');
  });
});

describe('unknown prices are unknown, never $0, and every total says what it leaves out', () => {
  const unknown = (changes: Partial<Instance> = {}) =>
    makeInstance({ instanceType: 'x9z.mega', typeInfo: { freeTierEligible: false, gpu: false }, ...changes });
  const input = digestInput;

  const prices = (instances: Instance[]) =>
    new Map(instances.map((i) => [`${i.region}/${i.instanceType}`, bundledPrice(i.instanceType, i.region)]));

  it('running $/h: the priced ones are summed, the others counted and shown as "?"', () => {
    // Prepare
    const running = [makeInstance({ instanceType: 't3.large' }), unknown(), unknown()];

    // Act
    const d = buildDigest(input({ running, prices: prices(running) }));
    const text = renderDigest(d).text;

    // Assess
    expect(d.runningUsdPerHour).toMatchObject({ usd: 0.0832, unpriced: 2 });
    expect(text).toContain(
      'RUNNING NOW: 3 instance(s), together $0.0832/h (est., table; 2 instances without a price not included)',
    );
    expect(text).toMatch(/x9z\.mega .* \? +table/);
  });

  it('this month: hours without a price are said to be left out of the dollars', () => {
    const month = {
      freeTierHours: 0,
      instanceHours: 30,
      estimatedCostUsd: 2,
      stops: 0,
      dollarsSaved: 0,
      byOwner: {},
      unpricedHours: 12,
    };

    const d = buildDigest(input({ month }));

    expect(d.thisMonth).toMatchObject({ unpricedInstanceHours: 12 });
    expect(renderDigest(d).text).toContain(
      '12.0 instance-hours without a price are not included in these dollars (counted in the hours).',
    );
  });

  it('savings: a stop without a price is counted apart, not as $0 saved', () => {
    const stops = [
      {
        instanceId: 'i-a',
        region: 'us-east-1',
        instanceType: 't3.large',
        state: 'stopped',
        stoppedAt: hoursAgo(10),
        tags: {},
      },
      {
        instanceId: 'i-b',
        region: 'us-east-1',
        instanceType: 'x9z.mega',
        state: 'stopped',
        stoppedAt: hoursAgo(10),
        tags: {},
      },
    ];
    const d = buildDigest(
      input({
        stops,
        prices: new Map(
          stops.map((s) => [`${s.region}/${s.instanceType}`, bundledPrice(s.instanceType, s.region)]),
        ),
      }),
    );

    expect(d.savings.sinceStops).toMatchObject({ usd: 0.83, unpriced: 1 });
    expect(d.savings.items.find((i) => i.instanceId === 'i-b')?.savedUsd).toBeNull();
    expect(renderDigest(d).text).toContain(
      'since each stop $0.83 (est., table; 1 stop without a price not included)',
    );
  });

  it('usage recording: hours count, dollars leave the unpriced out and say how many hours', () => {
    const priced = makeInstance({ instanceType: 't3.large', launchTime: hoursAgo(5) });
    const other = unknown({ launchTime: hoursAgo(5) });

    const usage = usageSinceLastSweep([priced, other], prices([priced, other]), 'Owner', 1, NOW);

    expect(usage.unpriced).toEqual([other.instanceId]);
    expect(usage.months).toEqual([
      expect.objectContaining({ instanceHours: 2, estimatedUsd: 0.0832, unpricedHours: 1 }),
    ]);
  });

  it('budget: the alert says how many running instances it could not price', () => {
    const alert = renderBudgetAlert(
      'warning',
      { limitUsd: 100, estimateUsd: 85, share: 0.85, level: 'warning' },
      'notify',
      NOW,
      3,
    );
    expect(alert.text).toContain(
      '3 running instances without a price are not included: the real cost is higher.',
    );
    expect(alert.data).toMatchObject({ unpricedInstances: 3 });
  });

  it('the digest shows its times in the policy zone', () => {
    const warned = makeInstance({ tags: { [TAGS.warnedAt]: hoursAgo(1), [TAGS.warnRule]: 'idle' } });
    const d = buildDigest(
      input({
        policy: policyWith({ timeZone: 'Europe/Berlin' }),
        running: [warned],
        prices: prices([warned]),
        stops: [
          {
            instanceId: 'i-s',
            region: 'us-east-1',
            instanceType: 't3.micro',
            state: 'stopped',
            stoppedAt: hoursAgo(3),
            stopReason: 'idle',
            tags: {},
          },
        ],
      }),
    );

    const text = renderDigest(d).text;

    expect(text).toMatch(/^cost-watchdog daily digest, Wed 25 Nov 2026 15:00 \(Europe\/Berlin\)\n/);
    expect(text).toContain('Times are in Europe/Berlin.');
    expect(text).toContain('idle, warned Wed 25 Nov 14:00');
    expect(text).toContain('at Wed 25 Nov 12:00: idle');
    expect(text).not.toMatch(ISO);
    expect(d.at).toBe(NOW.toISOString());
  });
});
