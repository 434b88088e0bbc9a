import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
  type MetricDatum,
  paginateListMetrics,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import type { DigestMonth } from '../core/digest.js';
import { NAMES } from '../core/policy.js';
import { cleanLine, TEXT_CAPS } from '../core/text.js';
import { NO_OWNER, type SweepUsage } from '../core/usage.js';
import { chunk } from './clients.js';
import { MAX_QUERIES_PER_CALL } from './cloudwatch.js';

/** IAM actions this adapter uses; PutMetricData is limited to the CostWatchdog namespace by an IAM condition. */
export const USAGE_METRICS_PERMISSIONS = [
  'cloudwatch:PutMetricData',
  'cloudwatch:GetMetricData',
  'cloudwatch:ListMetrics',
] as const;

/** The watchdog's own metrics in namespace NAMES.metricNamespace (CostWatchdog); the dashboard shows them. */
export const USAGE_METRICS = {
  freeTierHours: 'FreeTierHours',
  instanceHours: 'InstanceHours',
  estimatedCostUsd: 'EstimatedCostUsd',
  instancesRunning: 'InstancesRunning',
  stops: 'Stops',
  dollarsSaved: 'DollarsSaved',
  /** Instance-hours without a price (left out of EstimatedCostUsd); written only when there are any. */
  unpricedInstanceHours: 'UnpricedInstanceHours',
  /** Per owner (dimension Owner); own names, so a total is never mixed with a per-owner series. */
  ownerInstanceHours: 'OwnerInstanceHours',
  ownerEstimatedCostUsd: 'OwnerEstimatedCostUsd',
} as const;

/** The dimension that splits instance-hours and dollars per owner. */
export const OWNER_DIMENSION = 'Owner';

/**
 * An owner tag as a CloudWatch dimension value: ASCII only and not blank, as CloudWatch requires (one value it
 * refuses fails the whole PutMetricData call, so one student's tag would lose every instance's hours). Other
 * characters become "?"; a blank owner is no owner.
 */
export function ownerDimensionValue(owner: string): string {
  const ascii = owner.replace(/[^\x20-\x7e]/g, '?');
  return ascii.trim() === '' ? NO_OWNER : ascii;
}

/** Month-to-date sums read back for the digest and the budget guard. */
export type MonthTotals = DigestMonth;

/** CloudWatch for the watchdog's own counters: write what a sweep adds, read a month's sums. */
export class UsageMetrics {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly namespace: string = NAMES.metricNamespace,
  ) {}

  /** Records what one sweep added (per month touched), the running count and the stops, in one or two calls. */
  async recordSweep(usage: SweepUsage, stops: number, now: Date): Promise<void> {
    const data: MetricDatum[] = [
      {
        MetricName: USAGE_METRICS.instancesRunning,
        Timestamp: now,
        Value: usage.instancesRunning,
        Unit: 'Count',
      },
      { MetricName: USAGE_METRICS.stops, Timestamp: now, Value: stops, Unit: 'Count' },
    ];
    for (const m of usage.months) {
      data.push(
        { MetricName: USAGE_METRICS.freeTierHours, Timestamp: m.at, Value: m.freeTierHours, Unit: 'None' },
        { MetricName: USAGE_METRICS.instanceHours, Timestamp: m.at, Value: m.instanceHours, Unit: 'None' },
        { MetricName: USAGE_METRICS.estimatedCostUsd, Timestamp: m.at, Value: m.estimatedUsd, Unit: 'None' },
      );
      if ((m.unpricedHours ?? 0) > 0) {
        data.push({
          MetricName: USAGE_METRICS.unpricedInstanceHours,
          Timestamp: m.at,
          Value: m.unpricedHours,
          Unit: 'None',
        });
      }
      const byDimension = new Map<string, { hours: number; usd: number }>();
      for (const [owner, o] of Object.entries(m.byOwner)) {
        const value = ownerDimensionValue(owner);
        const sum = byDimension.get(value) ?? { hours: 0, usd: 0 };
        byDimension.set(value, { hours: sum.hours + o.hours, usd: sum.usd + o.usd });
      }
      for (const [owner, o] of byDimension) {
        const Dimensions = [{ Name: OWNER_DIMENSION, Value: owner }];
        data.push(
          {
            MetricName: USAGE_METRICS.ownerInstanceHours,
            Dimensions,
            Timestamp: m.at,
            Value: o.hours,
            Unit: 'None',
          },
          {
            MetricName: USAGE_METRICS.ownerEstimatedCostUsd,
            Dimensions,
            Timestamp: m.at,
            Value: o.usd,
            Unit: 'None',
          },
        );
      }
    }
    await this.put(data);
  }

  /** Records the dollars saved by stops over the last day (the digest writes it once a day). */
  async recordSaved(usd: number, now: Date): Promise<void> {
    await this.put([{ MetricName: USAGE_METRICS.dollarsSaved, Timestamp: now, Value: usd, Unit: 'None' }]);
  }

  private async put(data: MetricDatum[]): Promise<void> {
    for (const batch of chunk(data, 1000)) {
      await this.client.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: batch }));
    }
  }

  /** The month's estimated dollars so far (the budget guard's input). */
  async monthEstimateUsd(monthStart: Date, now: Date): Promise<number> {
    const sums = await this.sums([{ name: USAGE_METRICS.estimatedCostUsd }], monthStart, now);
    return sums[0] ?? 0;
  }

  /** Every counter summed from `monthStart` to `now`, per owner too (owners with data in the last 2 weeks). */
  async monthTotals(monthStart: Date, now: Date): Promise<MonthTotals> {
    const owners = await this.owners();
    const series: { name: string; owner?: string }[] = [
      { name: USAGE_METRICS.freeTierHours },
      { name: USAGE_METRICS.instanceHours },
      { name: USAGE_METRICS.estimatedCostUsd },
      { name: USAGE_METRICS.stops },
      { name: USAGE_METRICS.dollarsSaved },
      ...owners.flatMap((owner) => [
        { name: USAGE_METRICS.ownerInstanceHours, owner },
        { name: USAGE_METRICS.ownerEstimatedCostUsd, owner },
      ]),
      { name: USAGE_METRICS.unpricedInstanceHours },
    ];
    const sums = await this.sums(series, monthStart, now);
    const byOwner: MonthTotals['byOwner'] = {};
    owners.forEach((owner, k) => {
      const hours = sums[5 + 2 * k] ?? 0;
      const usd = sums[6 + 2 * k] ?? 0;
      if (hours <= 0 && usd <= 0) return;
      // The dimension echoes an owner tag (maybe written before tags were cleaned): shown cleaned, queried as is.
      const shown = cleanLine(owner, TEXT_CAPS.tagValue);
      const sum = byOwner[shown] ?? { hours: 0, usd: 0 };
      byOwner[shown] = { hours: sum.hours + hours, usd: sum.usd + usd };
    });
    const unpricedHours = sums[5 + 2 * owners.length] ?? 0;
    return {
      freeTierHours: sums[0] ?? 0,
      instanceHours: sums[1] ?? 0,
      estimatedCostUsd: sums[2] ?? 0,
      stops: sums[3] ?? 0,
      dollarsSaved: sums[4] ?? 0,
      byOwner,
      ...(unpricedHours > 0 ? { unpricedHours } : {}),
    };
  }

  private async owners(): Promise<string[]> {
    const owners = new Set<string>();
    const pages = paginateListMetrics(
      { client: this.client },
      {
        Namespace: this.namespace,
        MetricName: USAGE_METRICS.ownerEstimatedCostUsd,
        Dimensions: [{ Name: OWNER_DIMENSION }],
      },
    );
    for await (const page of pages) {
      for (const m of page.Metrics ?? []) {
        const v = m.Dimensions?.find((d) => d.Name === OWNER_DIMENSION)?.Value;
        if (v !== undefined) owners.add(v);
      }
    }
    return [...owners].sort();
  }

  /** Sum of each series over [from, to], at a daily period (a month is at most 31 points per series). */
  private async sums(series: { name: string; owner?: string }[], from: Date, to: Date): Promise<number[]> {
    const totals = series.map(() => 0);
    const queries: MetricDataQuery[] = series.map((s, i) => ({
      Id: `s${i}`,
      MetricStat: {
        Metric: {
          Namespace: this.namespace,
          MetricName: s.name,
          ...(s.owner !== undefined ? { Dimensions: [{ Name: OWNER_DIMENSION, Value: s.owner }] } : {}),
        },
        Period: 86_400,
        Stat: 'Sum',
      },
      ReturnData: true,
    }));
    // EndTime is exclusive: one second past `to` so a datapoint written at `to` counts.
    const end = new Date(to.getTime() + 1000);
    for (const batch of chunk(queries, MAX_QUERIES_PER_CALL)) {
      let token: string | undefined;
      do {
        const res = await this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: batch,
            StartTime: from,
            EndTime: end,
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const r of res.MetricDataResults ?? []) {
          const i = Number(r.Id?.slice(1));
          if (!Number.isInteger(i) || i < 0 || i >= totals.length) continue;
          totals[i] = (totals[i] ?? 0) + (r.Values ?? []).reduce((a, b) => a + b, 0);
        }
        token = res.NextToken;
      } while (token);
    }
    return totals;
  }
}
