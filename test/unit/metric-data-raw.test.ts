/**
 * MetricsAdapter reads GetMetricData's datapoints from the raw JSON answer, not through the SDK's deserializer
 * (src/aws/raw-answer.ts). Real SDK client and middleware; the answers come from a request handler in this file,
 * and the SDK's own reading of the same answers is the reference.
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { HttpRequest } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { MetricsAdapter, metricDataOf } from '../../src/aws/cloudwatch.js';
import { ec2MetricsRequest } from '../../src/core/kinds.js';
import type { InstanceMetrics } from '../../src/core/instance.js';

const from = new Date('2026-11-25T12:00:00Z');
const to = new Date('2026-11-25T14:00:00Z');
const t0 = Date.parse('2026-11-25T13:00:00Z') / 1000;

/** A CloudWatch client whose calls `answer` serves (raw JSON bodies, in turn), with the request bodies recorded. */
function client(answers: string[], asked: Record<string, unknown>[] = []) {
  let call = 0;
  const handler = {
    async handle(request: HttpRequest) {
      const text =
        typeof request.body === 'string'
          ? request.body
          : new TextDecoder().decode(request.body as Uint8Array);
      asked.push(JSON.parse(text) as Record<string, unknown>);
      const body = answers[Math.min(call++, answers.length - 1)] as string;
      return {
        response: {
          statusCode: 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Buffer.from(body),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
  return new CloudWatchClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    requestHandler: handler,
  });
}

/** The series of each answer as the SDK reads it: id -> [epoch ms, value][]. */
async function sdkReading(answers: string[]): Promise<Map<string, [number, number][]>> {
  const out = new Map<string, [number, number][]>();
  const sdk = client(answers);
  for (const _ of answers) {
    const res = await sdk.send(
      new GetMetricDataCommand({ MetricDataQueries: [], StartTime: from, EndTime: to }),
    );
    for (const r of res.MetricDataResults ?? []) {
      const into = out.get(r.Id as string) ?? [];
      for (const [j, t] of (r.Timestamps ?? []).entries()) into.push([t.getTime(), r.Values?.[j] as number]);
      out.set(r.Id as string, into);
    }
  }
  return out;
}

async function collect(adapter: MetricsAdapter, ids: string[]): Promise<Map<string, InstanceMetrics>> {
  const out = new Map<string, InstanceMetrics>();
  const requests = ids.map((id) => ec2MetricsRequest(id, false));
  for await (const done of adapter.stream(requests, from, to)) for (const [id, m] of done) out.set(id, m);
  return out;
}

/** Two pages: fractional and text timestamps, a NaN value, an empty series, PartialData and a NextToken. */
const PAGES = [
  JSON.stringify({
    MetricDataResults: [
      {
        Id: 'cpu0',
        Label: 'CPUUtilization',
        Timestamps: [t0, t0 + 300.25],
        Values: [1.5, 2],
        StatusCode: 'Complete',
      },
      { Id: 'networkin0', Label: 'NetworkIn', Timestamps: [], Values: [], StatusCode: 'Complete' },
      {
        Id: 'networkout0',
        Label: 'NetworkOut',
        Timestamps: [`${t0}`],
        Values: ['NaN'],
        StatusCode: 'Complete',
      },
      { Id: 'cpu1', Label: 'CPUUtilization', Timestamps: [t0], Values: [40], StatusCode: 'PartialData' },
    ],
    Messages: [],
    NextToken: 'page-2',
  }),
  JSON.stringify({
    MetricDataResults: [
      { Id: 'cpu1', Label: 'CPUUtilization', Timestamps: [t0 + 600], Values: [41], StatusCode: 'Complete' },
      {
        Id: 'networkin1',
        Label: 'NetworkIn',
        Timestamps: [t0 + 1e-4],
        Values: [1e9],
        StatusCode: 'Complete',
      },
      { Id: 'networkout1', Label: 'NetworkOut', Timestamps: [t0], Values: [0], StatusCode: 'Complete' },
    ],
    Messages: [{ Code: 'x', Value: 'y' }],
  }),
];

describe('MetricsAdapter on raw GetMetricData answers', () => {
  it('reads the datapoints of every page as the SDK reads them, and follows the NextToken', async () => {
    // Prepare
    const asked: Record<string, unknown>[] = [];
    const adapter = new MetricsAdapter(client(PAGES, asked));

    // Act
    const metrics = await collect(adapter, ['i-0', 'i-1']);

    // Assess: the same times and values as the SDK's reading, in the adapter's shape
    const sdk = await sdkReading(PAGES);
    const as = (id: string) => (sdk.get(id) ?? []).map(([at, value]) => ({ at, value }));
    expect(metrics.get('i-0')).toEqual({ cpu: as('cpu0'), networkIn: [], networkOut: as('networkout0') });
    expect(metrics.get('i-1')).toEqual({
      cpu: as('cpu1'),
      networkIn: as('networkin1'),
      networkOut: as('networkout1'),
    });
    expect(metrics.get('i-0')?.cpu).toEqual([
      { at: t0 * 1000, value: 1.5 },
      { at: t0 * 1000 + 300_250, value: 2 },
    ]);
    expect(metrics.get('i-0')?.networkOut?.[0]?.value).toBeNaN();
    expect(asked.map((b) => b.NextToken)).toEqual([undefined, 'page-2']);
    expect(adapter.calls).toBe(2);
  });

  it('leaves an answer it cannot read to the SDK, which reads it as always', async () => {
    // Prepare: a timestamp the reader does not take (a JSON object); the SDK's own reading decides
    const odd = JSON.stringify({
      MetricDataResults: [
        { Id: 'cpu0', Timestamps: [t0], Values: [3] },
        { Id: 'networkin0', Timestamps: [t0], Values: [null] },
      ],
    });
    expect(metricDataOf(odd)).toBeUndefined();
    const adapter = new MetricsAdapter(client([odd]));

    // Act
    const outcome = await collect(adapter, ['i-0']).then(
      (m) => ({ metrics: m.get('i-0') }),
      (err: Error) => ({ error: err.message }),
    );
    const sdk = await sdkReading([odd]).then(
      (m) => ({ cpu: m.get('cpu0'), networkIn: m.get('networkin0') }),
      (err: Error) => ({ error: err.message }),
    );

    // Assess
    if ('error' in sdk) expect(outcome).toEqual({ error: sdk.error });
    else
      expect(outcome).toEqual({
        metrics: {
          cpu: sdk.cpu?.map(([at, value]) => ({ at, value })),
          networkIn: sdk.networkIn?.map(([at, value]) => ({ at, value })),
          networkOut: [],
        },
      });
  });

  it('declines answers that are not GetMetricData answers as expected', () => {
    expect(metricDataOf('not json')).toBeUndefined();
    expect(metricDataOf('null')).toBeUndefined();
    expect(metricDataOf(JSON.stringify({ MetricDataResults: {} }))).toBeUndefined();
    expect(
      metricDataOf(
        JSON.stringify({
          MetricDataResults: [{ Id: 'a', Timestamps: ['2026-11-25T13:00:00Z'], Values: [1] }],
        }),
      ),
    ).toBeUndefined();
    expect(
      metricDataOf(JSON.stringify({ MetricDataResults: [{ Id: 'a', Timestamps: [''], Values: [1] }] })),
    ).toBeUndefined();
    expect(
      metricDataOf(JSON.stringify({ MetricDataResults: [{ Id: 'a', Timestamps: [1], Values: ['1'] }] })),
    ).toBeUndefined();
    // What the SDK is left: everything but the series
    const read = metricDataOf(PAGES[0] as string);
    expect(read?.series.map((s) => s.id)).toEqual(['cpu0', 'networkin0', 'networkout0', 'cpu1']);
    expect(JSON.parse(read?.rest ?? '')).toEqual({
      MetricDataResults: [],
      Messages: [],
      NextToken: 'page-2',
    });
  });
});
