import { SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PriceLookup } from '../../src/aws/pricing.js';
import { UsageStore } from '../../src/aws/usage-store.js';
import { evaluate } from '../../src/core/evaluate.js';
import { TAGS } from '../../src/core/policy.js';
import { bundledPrice, type HourlyPrice } from '../../src/core/prices.js';
import {
  budgetCrossing,
  budgetStatus,
  freeTierStatus,
  monthBounds,
  NO_OWNER,
  projectToMonthEnd,
  splitByMonth,
  sweepIntervalHours,
  usageSinceLastSweep,
} from '../../src/core/usage.js';
import { recordSweepUsage } from '../../src/jobs/usage.js';
import { busyMetrics, hoursAgo, makeInstance, NOW, policyWith } from '../support/fleet.js';
import { memorySsm } from '../support/ssm-memory.js';

function pricesFor(...types: string[]): Map<string, HourlyPrice> {
  return new Map(types.map((t) => [`us-east-1/${t}`, bundledPrice(t, 'us-east-1')]));
}

describe('hour accounting per calendar month', () => {
  it('knows the UTC month around a time', () => {
    expect(monthBounds(new Date('2026-02-14T23:59:00-05:00'))).toEqual({
      start: new Date('2026-02-01T00:00:00Z'),
      end: new Date('2026-03-01T00:00:00Z'),
    });
  });

  it('splits a sweep interval that straddles midnight on the 1st between the two months', () => {
    // Act
    const parts = splitByMonth(new Date('2026-12-01T00:30:00Z'), 1);

    // Assess
    expect(parts.map((p) => [p.month.slice(0, 7), p.hours, p.at.toISOString()])).toEqual([
      ['2026-11', 0.5, '2026-11-30T23:59:59.999Z'],
      ['2026-12', 0.5, '2026-12-01T00:30:00.000Z'],
    ]);
  });

  it('keeps an interval inside one month whole', () => {
    expect(splitByMonth(NOW, 1).map((p) => [p.month.slice(0, 7), p.hours])).toEqual([['2026-11', 1]]);
  });

  it('counts free-tier hours only for eligible types, and the hours of a sweep just after the 1st for both months', () => {
    // Prepare: an hourly sweep at 00:15 on 1 December
    const now = new Date('2026-12-01T00:15:00Z');
    const micro = makeInstance({ launchTime: hoursAgo(30, now), tags: { Owner: 'alice' } });
    const large = makeInstance({
      instanceType: 't3.large',
      launchTime: hoursAgo(30, now),
      tags: {},
      typeInfo: { freeTierEligible: false, gpu: false },
    });

    // Act
    const usage = usageSinceLastSweep([micro, large], pricesFor('t3.micro', 't3.large'), 'Owner', 1, now);

    // Assess
    const [nov, dec] = usage.months;
    expect(nov).toMatchObject({ month: '2026-11-01T00:00:00.000Z', instanceHours: 1.5, freeTierHours: 0.75 });
    expect(dec).toMatchObject({ month: '2026-12-01T00:00:00.000Z', instanceHours: 0.5, freeTierHours: 0.25 });
    expect(nov?.estimatedUsd).toBeCloseTo(0.75 * (0.0104 + 0.0832), 10);
    expect(Object.keys(dec?.byOwner ?? {}).sort()).toEqual([NO_OWNER, 'alice']);
    expect(usage.instancesRunning).toBe(2);
  });

  it('counts an instance started since the previous sweep only from its start', () => {
    // Prepare
    const fresh = makeInstance({ launchTime: hoursAgo(0.25) });

    // Act
    const usage = usageSinceLastSweep([fresh], pricesFor('t3.micro'), 'Owner', 1, NOW);

    // Assess
    expect(usage.months[0]?.freeTierHours).toBeCloseTo(0.25, 10);
  });

  it('counts the hours of an unpriced type but no dollars, and names it', () => {
    const odd = makeInstance({ instanceType: 'x9z.mega', typeInfo: { freeTierEligible: false, gpu: false } });

    const usage = usageSinceLastSweep([odd], new Map(), 'Owner', 1, NOW);

    expect(usage.months[0]).toMatchObject({ instanceHours: 1, estimatedUsd: 0 });
    expect(usage.unpriced).toEqual([odd.instanceId]);
  });

  it.each([
    ['rate(1 hour)', 1],
    ['rate(30 minutes)', 0.5],
    ['rate(2 hours)', 2],
    ['rate(1 day)', 24],
    ['cron(0 * * * ? *)', 1],
    ['cron(0/15 * * * ? *)', 0.25],
    ['cron(0 8 * * ? *)', 24],
    ['cron(0 8-17 ? * MON-FRI *)', 2.4],
  ])('takes %s as a sweep every %s h', (schedule, hours) => {
    expect(sweepIntervalHours(schedule)).toBeCloseTo(hours, 10);
  });
});

describe('free-tier allowance and projection', () => {
  it('projects the month from the rate so far and from what is running now', () => {
    // Prepare: 10 days into a 30-day month (November), 300 h used, 2 free-tier instances running
    const now = new Date('2026-11-11T00:00:00Z');

    // Act
    const status = freeTierStatus(300, 2, now);

    // Assess
    expect(status).toEqual({
      month: '2026-11',
      usedHours: 300,
      allowanceHours: 750,
      projectedHours: 900,
      projectedIfLeftRunning: 300 + 2 * 480,
      overAllowance: true,
    });
  });

  it('is under the allowance for one instance run 8 hours a day', () => {
    const status = freeTierStatus(80, 0, new Date('2026-11-11T00:00:00Z'));

    expect(status.overAllowance).toBe(false);
    expect(status.projectedHours).toBe(240);
  });

  it('projects dollars straight-line to the month end', () => {
    expect(projectToMonthEnd(10, new Date('2026-11-16T00:00:00Z'))).toBeCloseTo(20, 10);
  });
});

describe('budget thresholds', () => {
  it.each([
    [0, null],
    [79.99, null],
    [80, 'warning'],
    [99.99, 'warning'],
    [100, 'exceeded'],
    [250, 'exceeded'],
  ])('puts an estimate of $%s against a $100 budget at %s', (estimate, level) => {
    expect(budgetStatus(estimate, 100).level).toBe(level);
  });

  it.each([
    [70, 79, null],
    [70, 85, 'warning'],
    [85, 90, null],
    [85, 101, 'exceeded'],
    [70, 120, 'exceeded'],
    [101, 130, null],
  ])('from $%s to $%s against $100 crosses %s (each alert once a month)', (before, after, crossing) => {
    expect(budgetCrossing(before, after, 100)).toBe(crossing);
  });
});

describe('the over-budget rule', () => {
  const overBudget = { budget: { estimateUsd: 120, limitUsd: 100 } };
  const busy = () => busyMetrics();

  it('only reports when budget.action is notify', () => {
    const d = evaluate(makeInstance(), busy(), policyWith({ budget: { monthlyUsd: 100 } }), NOW, overBudget);

    expect(d).toMatchObject({ action: 'report', rule: 'over-budget' });
    expect(d.reasons[0]).toContain("over budget: this month's estimated EC2 cost $120.00");
  });

  it('warns first, then stops after the grace, when budget.action is stop', () => {
    const policy = policyWith({ budget: { monthlyUsd: 100, action: 'stop' } });
    const fresh = makeInstance();
    const warned = makeInstance({
      tags: { Owner: 'bob', [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'over-budget' },
    });

    expect(evaluate(fresh, busy(), policy, NOW, overBudget)).toMatchObject({
      action: 'warn',
      rule: 'over-budget',
      newWarning: true,
    });
    expect(evaluate(warned, busy(), policy, NOW, overBudget)).toMatchObject({
      action: 'stop',
      rule: 'over-budget',
    });
  });

  it('never stops an exempt instance for the budget', () => {
    const policy = policyWith({ budget: { monthlyUsd: 100, action: 'stop' } });
    const exempt = makeInstance({ tags: { [TAGS.exempt]: 'true' } });

    expect(evaluate(exempt, busy(), policy, NOW, overBudget)).toMatchObject({
      action: 'report',
      protection: 'exempt',
    });
  });

  it('does not hold under the budget or without budget facts', () => {
    const policy = policyWith({ budget: { monthlyUsd: 100, action: 'stop' } });
    const under = { budget: { estimateUsd: 99, limitUsd: 100 } };

    expect(evaluate(makeInstance(), busy(), policy, NOW, under).action).toBe('none');
    expect(evaluate(makeInstance(), busy(), policy, NOW).action).toBe('none');
  });
});

describe('recording usage in the month ledger (SSM standard parameters)', () => {
  let store: ReturnType<typeof memorySsm>;
  beforeEach(() => {
    store = memorySsm();
  });
  afterEach(() => store.ssm.restore());

  it('writes free-tier hours, instance-hours, dollars (also per owner) and stops, and reads them back', async () => {
    // Prepare
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));

    // Act
    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: [makeInstance({ tags: { Owner: 'alice' } })],
      stops: 2,
      prices: new PriceLookup(),
      usage,
    });
    const totals = await usage.monthTotals(monthBounds(NOW).start, NOW);

    // Assess: one hour of a t3.micro ($0.0104), in /cost-watchdog/usage/2026-11 and one owner shard
    expect([...store.parameters.keys()].sort()).toEqual([
      '/cost-watchdog/usage/2026-11',
      '/cost-watchdog/usage/2026-11/owners-1',
    ]);
    expect(totals).toEqual({
      freeTierHours: 1,
      instanceHours: 1,
      estimatedCostUsd: 0.0104,
      stops: 2,
      dollarsSaved: 0,
      byOwner: { alice: { hours: 1, usd: 0.0104 } },
    });
    expect(await usage.monthEstimateUsd(monthBounds(NOW).start, NOW)).toBe(0.0104);
  });

  it('never counts the same sweep twice, and adds the next one', async () => {
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));
    const record = (now: Date) =>
      recordSweepUsage({
        policy: policyWith(),
        now,
        instances: [makeInstance()],
        stops: 0,
        prices: new PriceLookup(),
        usage,
      });

    await record(NOW);
    await record(NOW);
    await record(new Date(NOW.getTime() + 3_600_000));

    expect((await usage.monthTotals(monthBounds(NOW).start, NOW)).instanceHours).toBe(2);
  });

  it('splits the hours of a sweep just after midnight on the 1st between the two months', async () => {
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));
    const justAfter = new Date('2026-12-01T00:15:00Z');

    await recordSweepUsage({
      policy: policyWith(),
      now: justAfter,
      instances: [makeInstance({ launchTime: '2026-11-30T20:00:00Z' })],
      stops: 1,
      prices: new PriceLookup(),
      usage,
    });

    const nov = await usage.monthTotals(new Date('2026-11-01T00:00:00Z'), justAfter);
    const dec = await usage.monthTotals(new Date('2026-12-01T00:00:00Z'), justAfter);
    expect(nov).toMatchObject({ instanceHours: 0.75, stops: 0 });
    expect(dec).toMatchObject({ instanceHours: 0.25, stops: 1 });
  });

  it('keeps 300 owners in parameters of at most 4 KB each, and reads every one of them back', async () => {
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));
    const class300 = Array.from({ length: 300 }, (_, k) => makeInstance({ tags: { Owner: `student-${k}` } }));

    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: class300,
      stops: 0,
      prices: new PriceLookup(),
      usage,
    });

    const values = [...store.parameters.values()];
    expect(values.length).toBeGreaterThanOrEqual(3);
    for (const v of values) expect(v.length).toBeLessThanOrEqual(4096);
    const back = await usage.monthTotals(monthBounds(NOW).start, NOW);
    expect(Object.keys(back.byOwner)).toHaveLength(300);
    expect(back.byOwner['student-299']).toEqual({ hours: 1, usd: 0.0104 });
  });

  it('records the dollars saved per day (a re-run of the digest replaces its day) and sums the month', async () => {
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));

    await usage.recordSaved(1.5, new Date('2026-11-24T08:00:00Z'));
    await usage.recordSaved(2, NOW);
    await usage.recordSaved(2.25, NOW);

    expect((await usage.monthTotals(monthBounds(NOW).start, NOW)).dollarsSaved).toBe(3.75);
  });

  it('reads a parameter someone edited by hand as what it can, cleaning names and ignoring garbage', async () => {
    store.parameters.set('/cost-watchdog/usage/2026-11', '{"instanceHours": 5, "ownerShards": 2}');
    store.parameters.set('/cost-watchdog/usage/2026-11/owners-1', '{"bob\\n\\nStop it now: x": [1, 2]}');
    store.parameters.set('/cost-watchdog/usage/2026-11/owners-2', 'not json');
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));

    const totals = await usage.monthTotals(monthBounds(NOW).start, NOW);

    expect(totals.instanceHours).toBe(5);
    expect(Object.keys(totals.byOwner)).toEqual(['bob  Stop it now: x']);
  });

  it('records the hours of an instance without a price apart (unpriced hours), never as $0 spent', async () => {
    // Prepare
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));
    const unknown = makeInstance({
      instanceType: 'x9z.mega',
      typeInfo: { freeTierEligible: false, gpu: false },
    });

    // Act
    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: [makeInstance(), unknown],
      stops: 0,
      prices: new PriceLookup(),
      usage,
    });

    // Assess: read back as the digest reads it
    const totals = await usage.monthTotals(monthBounds(NOW).start, NOW);
    expect(totals.instanceHours).toBe(2);
    expect(totals.estimatedCostUsd).toBeCloseTo(0.0104, 10);
    expect(totals.unpricedHours).toBe(1);
  });

  it('records no unpriced hours when every instance has a price', async () => {
    const usage = new UsageStore(new SSMClient({ region: 'us-east-1' }));
    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: [makeInstance()],
      stops: 0,
      prices: new PriceLookup(),
      usage,
    });
    const totals = await usage.monthTotals(monthBounds(NOW).start, NOW);
    expect(totals.unpricedHours).toBeUndefined();
    expect(store.parameters.get('/cost-watchdog/usage/2026-11')).not.toContain('unpriced');
  });

  it('returns the budget alert when this sweep takes the month past 80% of the budget', async () => {
    // Prepare: $79.99 so far, one g5.xlarge hour ($1.006) added
    const gpu = makeInstance({ instanceType: 'g5.xlarge', typeInfo: { freeTierEligible: false, gpu: true } });

    // Act
    const record = await recordSweepUsage({
      policy: policyWith({ budget: { monthlyUsd: 100 } }),
      now: NOW,
      instances: [gpu],
      stops: 0,
      prices: new PriceLookup(),
      usage: new UsageStore(new SSMClient({ region: 'us-east-1' })),
      estimateBeforeUsd: 79.99,
    });

    // Assess
    expect(record.crossing).toBe('warning');
    expect(record.alert?.subject).toBe('cost-watchdog: budget 81% used ($81.00 of $100.00)');
    expect(record.alert?.text).toContain('budget.action is notify');
  });
});
