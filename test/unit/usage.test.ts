import {
  CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { PriceLookup } from '../../src/aws/pricing.js';
import { UsageMetrics } from '../../src/aws/usage-metrics.js';
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

const cw = mockClient(CloudWatchClient);

beforeEach(() => {
  cw.reset();
});

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

describe('recording usage in the CostWatchdog namespace', () => {
  it('writes free-tier hours, instance-hours, dollars (also per owner), the running count and stops', async () => {
    // Prepare
    cw.on(PutMetricDataCommand).resolves({});
    const usage = new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: [makeInstance({ tags: { Owner: 'alice' } })],
      stops: 2,
      prices: new PriceLookup(),
      usage,
    });

    // Assess
    const input = cw.commandCalls(PutMetricDataCommand)[0]?.args[0].input;
    expect(input?.Namespace).toBe('CostWatchdog');
    const byName = (name: string, owner?: string) =>
      input?.MetricData?.find(
        (d) =>
          d.MetricName === name && (owner === undefined ? !d.Dimensions : d.Dimensions?.[0]?.Value === owner),
      )?.Value;
    expect(byName('FreeTierHours')).toBe(1);
    expect(byName('InstanceHours')).toBe(1);
    expect(byName('EstimatedCostUsd')).toBeCloseTo(0.0104, 10);
    expect(byName('OwnerEstimatedCostUsd', 'alice')).toBeCloseTo(0.0104, 10);
    expect(byName('OwnerInstanceHours', 'alice')).toBe(1);
    expect(byName('InstancesRunning')).toBe(1);
    expect(byName('Stops')).toBe(2);
  });

  it('records the hours of an instance without a price apart (UnpricedInstanceHours), never as $0 spent', async () => {
    // Prepare
    cw.on(PutMetricDataCommand).resolves({});
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
      usage: new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' })),
    });

    // Assess
    const data = cw.commandCalls(PutMetricDataCommand)[0]?.args[0].input.MetricData ?? [];
    const value = (name: string) => data.find((d) => d.MetricName === name && !d.Dimensions)?.Value;
    expect(value('InstanceHours')).toBe(2);
    expect(value('EstimatedCostUsd')).toBeCloseTo(0.0104, 10);
    expect(value('UnpricedInstanceHours')).toBe(1);
  });

  it('writes no UnpricedInstanceHours when every instance has a price', async () => {
    cw.on(PutMetricDataCommand).resolves({});
    await recordSweepUsage({
      policy: policyWith(),
      now: NOW,
      instances: [makeInstance()],
      stops: 0,
      prices: new PriceLookup(),
      usage: new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' })),
    });
    const names = (cw.commandCalls(PutMetricDataCommand)[0]?.args[0].input.MetricData ?? []).map(
      (d) => d.MetricName,
    );
    expect(names).not.toContain('UnpricedInstanceHours');
  });

  it("reads the month's unpriced hours back for the digest", async () => {
    cw.on(ListMetricsCommand).resolves({ Metrics: [] });
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 's1', Values: [30] },
        { Id: 's5', Values: [7, 5] },
      ],
    });

    const totals = await new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' })).monthTotals(
      monthBounds(NOW).start,
      NOW,
    );

    expect(totals).toMatchObject({ instanceHours: 30, unpricedHours: 12 });
  });

  it('returns the budget alert when this sweep takes the month past 80% of the budget', async () => {
    // Prepare: $79.99 so far, one g5.xlarge hour ($1.006) added
    cw.on(PutMetricDataCommand).resolves({});
    const gpu = makeInstance({ instanceType: 'g5.xlarge', typeInfo: { freeTierEligible: false, gpu: true } });

    // Act
    const record = await recordSweepUsage({
      policy: policyWith({ budget: { monthlyUsd: 100 } }),
      now: NOW,
      instances: [gpu],
      stops: 0,
      prices: new PriceLookup(),
      usage: new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' })),
      estimateBeforeUsd: 79.99,
    });

    // Assess
    expect(record.crossing).toBe('warning');
    expect(record.alert?.subject).toBe('cost-watchdog: budget 81% used ($81.00 of $100.00)');
    expect(record.alert?.text).toContain('budget.action is notify');
  });

  it('sums the month per series and per owner from GetMetricData', async () => {
    // Prepare
    cw.on(ListMetricsCommand).resolves({
      Metrics: [{ MetricName: 'OwnerEstimatedCostUsd', Dimensions: [{ Name: 'Owner', Value: 'alice' }] }],
    });
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 's0', Values: [100, 20.5] },
        { Id: 's1', Values: [300] },
        { Id: 's2', Values: [12, 3] },
        { Id: 's3', Values: [2] },
        { Id: 's4', Values: [] },
        { Id: 's5', Values: [40] },
        { Id: 's6', Values: [4.16] },
      ],
    });
    const usage = new UsageMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const totals = await usage.monthTotals(monthBounds(NOW).start, NOW);

    // Assess
    expect(totals).toEqual({
      freeTierHours: 120.5,
      instanceHours: 300,
      estimatedCostUsd: 15,
      stops: 2,
      dollarsSaved: 0,
      byOwner: { alice: { hours: 40, usd: 4.16 } },
    });
    expect(cw).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: new Date('2026-11-01T00:00:00Z'),
    });
  });
});
