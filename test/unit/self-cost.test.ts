/**
 * The watchdog's own bill, checked against calculations written out by hand here (AWS us-east-1 list prices:
 * Lambda arm64 $0.0000133334 per GB-s and $0.20 per million requests, 400,000 GB-s and 1M requests free;
 * CloudWatch GetMetricData $0.01 per 1,000 metrics, no free tier; other CloudWatch API requests $0.01 per 1,000
 * after 1M free; alarms $0.10 after 10 free; dashboards $3 after 3 free; SNS email $2 per 100,000 after 1,000
 * free; logs $0.50 per GB after 5 GB free; KMS key $1; SSM standard parameters free).
 */
import { describe, expect, it } from 'vitest';
import { chooseMetricsApi, selfCostFor } from '../../src/core/self-cost.js';

const HOURLY = 'rate(1 hour)';
const DAILY = 'cron(0 8 * * ? *)';
const item = (cost: ReturnType<typeof selfCostFor>, name: RegExp) =>
  cost.items.find((i) => name.test(i.item)) as (typeof cost.items)[number];

describe("the watchdog's own monthly bill", () => {
  it.each([
    // instances, owners, key
    [20, 20, false],
    [100, 100, false],
    [1_000, 200, true],
  ])(
    'for %i instances and %i owners (own key: %s) matches the calculation by hand',
    (instances, owners, key) => {
      // Act
      const cost = selfCostFor({
        instances,
        owners,
        schedule: HOURLY,
        digestSchedule: DAILY,
        customerManagedKey: key,
      });

      // Assess, by hand: 730 sweeps and 30.4 digests a month (730 h / 24 h), one launch event per instance a day
      const sweeps = 730;
      const digests = 730 / 24;
      const launches = instances * 30;
      const invocations = sweeps + digests + launches;
      const gbs = sweeps * (1 + instances / 1000) * 0.25 + (digests + launches) * 1 * 0.25;
      const lambdaList = gbs * 0.0000133334 + (invocations / 1e6) * 0.2;
      expect(item(cost, /^Lambda/).listUsd).toBeCloseTo(lambdaList, 4);
      expect(item(cost, /^Lambda/).billedUsd).toBe(0); // well inside 400,000 GB-s and 1M requests

      const series = instances * 3 * sweeps;
      const metric = item(cost, /metrics API/);
      if (series <= 500_000) {
        expect(cost.metricsApi).toBe('GetMetricStatistics');
        expect(metric.listUsd).toBeCloseTo(series * 0.00001, 4);
        expect(metric.billedUsd).toBe(0);
      } else {
        expect(cost.metricsApi).toBe('GetMetricData');
        expect(metric.billedUsd).toBeCloseTo(series * 0.00001, 4);
      }
      expect(item(cost, /custom metrics/).billedUsd).toBe(0);
      expect(item(cost, /alarms/)).toMatchObject({ listUsd: 0.8, billedUsd: 0 }); // 8 alarms, 10 free
      expect(item(cost, /dashboard/)).toMatchObject({ listUsd: 3, billedUsd: 0 });
      expect(item(cost, /KMS/).billedUsd).toBe(key ? 1 : 0);
      const emails = digests + owners * 8 + sweeps * 0.1;
      expect(item(cost, /SNS email/).billedUsd).toBeCloseTo((Math.max(0, emails - 1000) / 100_000) * 2, 4);
      const billed = cost.items.reduce((s, i) => s + i.billedUsd, 0);
      expect(cost.billedUsd).toBeCloseTo(billed, 4);
    },
  );

  it('meets the goals: at most $0.10 a month for a class of 20, at most $1 for 100 students', () => {
    const class20 = selfCostFor({
      instances: 20,
      owners: 20,
      schedule: HOURLY,
      digestSchedule: DAILY,
      customerManagedKey: false,
    });
    const class100 = selfCostFor({
      instances: 100,
      owners: 100,
      schedule: HOURLY,
      digestSchedule: DAILY,
      customerManagedKey: false,
    });

    expect(class20.billedUsd).toBeLessThanOrEqual(0.1);
    expect(class100.billedUsd).toBeLessThanOrEqual(1);
  });

  it('has no line that grows per student while it fits the free tiers (no custom metric per owner)', () => {
    const small = selfCostFor({
      instances: 20,
      owners: 20,
      schedule: HOURLY,
      digestSchedule: DAILY,
      customerManagedKey: false,
    });
    const large = selfCostFor({
      instances: 100,
      owners: 100,
      schedule: HOURLY,
      digestSchedule: DAILY,
      customerManagedKey: false,
    });

    expect(item(large, /custom metrics/).listUsd).toBe(item(small, /custom metrics/).listUsd);
    expect(large.billedUsd).toBe(small.billedUsd);
  });

  it('switches to batched GetMetricData once a month of sweeps would use half the free API requests', () => {
    expect(chooseMetricsApi(500_000)).toBe('GetMetricStatistics');
    expect(chooseMetricsApi(500_001)).toBe('GetMetricData');
  });
});

describe('extra sweep schedules (quiet hours)', () => {
  it('adds their runs to the Lambda invocations and the metric reads', () => {
    const base = {
      instances: 20,
      owners: 20,
      schedule: 'rate(1 hour)',
      digestSchedule: 'cron(0 8 * * ? *)',
      customerManagedKey: false,
    };
    const plain = selfCostFor(base);
    const quiet = selfCostFor({
      ...base,
      extraSchedules: ['cron(45 20 ? * MON-FRI *)', 'cron(0 21 ? * MON-FRI *)'],
    });

    // two crons counted as daily: 2 x 30.4 extra runs
    const invocations = (c: typeof plain) =>
      Number(/^(\d+) invocations/.exec(c.items[0]?.quantity ?? '')?.[1]);
    expect(invocations(quiet) - invocations(plain)).toBe(61);
    expect(quiet.items[1]?.listUsd).toBeGreaterThan(plain.items[1]?.listUsd ?? 0);
  });
});
