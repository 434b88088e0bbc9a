import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import type { NatTrafficFact } from '../core/stopped-costs.js';
import { chunk } from './clients.js';
import { MAX_QUERIES_PER_CALL } from './cloudwatch.js';

/** IAM actions this adapter uses (read only; GetMetricData has no resource-level permissions). */
export const NAT_TRAFFIC_PERMISSIONS = ['cloudwatch:GetMetricData'] as const;

/**
 * The two metrics whose sum is the data a NAT gateway processed (the data-processing charge applies to traffic in
 * both directions): bytes received from clients in the VPC, and bytes received back from the destinations.
 */
export const NAT_PROCESSED_METRICS = ['BytesInFromSource', 'BytesInFromDestination'] as const;

/** Hourly sums: 168 datapoints per metric over 7 days, so a full call (500 queries) stays in one page. */
const PERIOD_SECONDS = 3600;

/** CloudWatch's AWS/NATGateway metrics for one account x region: what each NAT gateway processed. */
export class NatTrafficAdapter {
  /** GetMetricData calls made (tests count them). */
  calls = 0;

  constructor(private readonly client: CloudWatchClient) {}

  /**
   * Bytes each NAT gateway processed from `from` to `to` (Sum of BytesInFromSource + BytesInFromDestination at
   * hourly periods), two queries per gateway, up to 500 queries per GetMetricData call, following NextToken
   * pages. A gateway without datapoints is in the answer with 0 bytes and 0 datapoints.
   */
  async processed(natGatewayIds: string[], from: Date, to: Date): Promise<Map<string, NatTrafficFact>> {
    const ids = [...new Set(natGatewayIds)];
    const out = new Map<string, NatTrafficFact>();
    const owner = new Map<string, NatTrafficFact>();
    const queries: MetricDataQuery[] = [];
    ids.forEach((id, i) => {
      const fact: NatTrafficFact = {
        from: from.toISOString(),
        to: to.toISOString(),
        bytes: 0,
        datapoints: 0,
      };
      out.set(id, fact);
      NAT_PROCESSED_METRICS.forEach((metric, m) => {
        const queryId = `${m === 0 ? 'src' : 'dst'}${i}`;
        owner.set(queryId, fact);
        queries.push({
          Id: queryId,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/NATGateway',
              MetricName: metric,
              Dimensions: [{ Name: 'NatGatewayId', Value: id }],
            },
            Period: PERIOD_SECONDS,
            Stat: 'Sum',
          },
          ReturnData: true,
        });
      });
    });
    for (const batch of chunk(queries, MAX_QUERIES_PER_CALL)) {
      let token: string | undefined;
      do {
        this.calls++;
        const res = await this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: batch,
            StartTime: from,
            EndTime: to,
            ScanBy: 'TimestampAscending',
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const r of res.MetricDataResults ?? []) {
          const fact = r.Id === undefined ? undefined : owner.get(r.Id);
          if (!fact) continue;
          const ts = r.Timestamps ?? [];
          const values = r.Values ?? [];
          for (let j = 0; j < Math.min(ts.length, values.length); j++) {
            const t = ts[j];
            const v = values[j];
            if (!(t instanceof Date) || v === undefined || !Number.isFinite(v) || v < 0) continue;
            fact.bytes += v;
            fact.datapoints++;
            if (fact.firstDatapointAt === undefined || t.getTime() < Date.parse(fact.firstDatapointAt))
              fact.firstDatapointAt = t.toISOString();
          }
        }
        token = res.NextToken;
      } while (token);
    }
    return out;
  }
}
