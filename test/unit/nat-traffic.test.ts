/**
 * What a NAT gateway processed, read from CloudWatch (AWS/NATGateway): the queries, batching up to 500 per
 * GetMetricData call, NextToken pages, and the sums per gateway.
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { NatTrafficAdapter } from '../../src/aws/nat-traffic.js';

const cw = mockClient(CloudWatchClient);
const TO = new Date('2026-03-10T08:00:00Z');
const FROM = new Date('2026-03-03T08:00:00Z');
const at = (iso: string) => new Date(iso);

const queriesOf = (call: number) =>
  (cw.commandCalls(GetMetricDataCommand)[call]?.args[0].input as GetMetricDataCommandInput | undefined)
    ?.MetricDataQueries ?? [];

beforeEach(() => {
  cw.reset();
});

describe('NatTrafficAdapter.processed', () => {
  it('asks for the hourly Sum of BytesInFromSource and BytesInFromDestination of each gateway and adds them up', async () => {
    // Prepare
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        {
          Id: 'src0',
          Timestamps: [at('2026-03-05T10:00:00Z'), at('2026-03-04T09:00:00Z')],
          Values: [1_000, 250],
        },
        { Id: 'dst0', Timestamps: [at('2026-03-05T10:00:00Z')], Values: [4_000] },
        { Id: 'src1', Timestamps: [], Values: [] },
        { Id: 'dst1', Timestamps: [], Values: [] },
      ],
    });
    const adapter = new NatTrafficAdapter(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const traffic = await adapter.processed(['nat-busy', 'nat-quiet'], FROM, TO);

    // Assess
    expect(adapter.calls).toBe(1);
    expect(cw).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: FROM,
      EndTime: TO,
      MetricDataQueries: [
        ['src0', 'BytesInFromSource', 'nat-busy'],
        ['dst0', 'BytesInFromDestination', 'nat-busy'],
        ['src1', 'BytesInFromSource', 'nat-quiet'],
        ['dst1', 'BytesInFromDestination', 'nat-quiet'],
      ].map(([Id, MetricName, id]) => ({
        Id,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/NATGateway',
            MetricName,
            Dimensions: [{ Name: 'NatGatewayId', Value: id }],
          },
          Period: 3600,
          Stat: 'Sum',
        },
        ReturnData: true,
      })),
    });
    expect(traffic.get('nat-busy')).toEqual({
      from: FROM.toISOString(),
      to: TO.toISOString(),
      bytes: 5_250,
      datapoints: 3,
      firstDatapointAt: '2026-03-04T09:00:00.000Z',
    });
    expect(traffic.get('nat-quiet')).toEqual({
      from: FROM.toISOString(),
      to: TO.toISOString(),
      bytes: 0,
      datapoints: 0,
    });
  });

  it('puts 500 queries in a call (251 gateways = 2 calls), follows NextToken pages and sums across them', async () => {
    // Prepare
    const ids = Array.from({ length: 251 }, (_, i) => `nat-${i}`);
    cw.on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [{ Id: 'src0', Timestamps: [at('2026-03-05T10:00:00Z')], Values: [100] }],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [{ Id: 'src0', Timestamps: [at('2026-03-06T10:00:00Z')], Values: [20] }],
      })
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'dst250', Timestamps: [at('2026-03-07T10:00:00Z')], Values: [7] },
          { Id: 'unknown', Timestamps: [at('2026-03-07T10:00:00Z')], Values: [1e12] },
        ],
      });
    const adapter = new NatTrafficAdapter(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const traffic = await adapter.processed(ids, FROM, TO);

    // Assess
    expect(adapter.calls).toBe(3);
    expect(queriesOf(0)).toHaveLength(500);
    expect(queriesOf(1)).toHaveLength(500);
    expect(cw.commandCalls(GetMetricDataCommand)[1]?.args[0].input.NextToken).toBe('page-2');
    expect(queriesOf(2).map((q) => q.Id)).toEqual(['src250', 'dst250']);
    expect(traffic.size).toBe(251);
    expect(traffic.get('nat-0')?.bytes).toBe(120);
    expect(traffic.get('nat-0')?.datapoints).toBe(2);
    expect(traffic.get('nat-250')?.bytes).toBe(7);
    expect([...traffic.values()].reduce((s, t) => s + t.bytes, 0)).toBe(127);
  });

  it('makes no call for no gateways and rejects with the CloudWatch error', async () => {
    const adapter = new NatTrafficAdapter(new CloudWatchClient({ region: 'us-east-1' }));

    expect((await adapter.processed([], FROM, TO)).size).toBe(0);
    expect(adapter.calls).toBe(0);

    cw.on(GetMetricDataCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: cloudwatch:GetMetricData'), {
        name: 'AccessDenied',
      }),
    );
    await expect(adapter.processed(['nat-1'], FROM, TO)).rejects.toThrow(/not authorized/);
  });
});
