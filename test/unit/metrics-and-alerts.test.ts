import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { ec2MetricsRequest } from '../../src/core/kinds.js';
import { Notifier } from '../../src/aws/sns.js';
import type { InstanceMetrics } from '../../src/core/instance.js';

const cw = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const from = new Date('2026-11-25T12:00:00Z');
const to = new Date('2026-11-25T14:00:00Z');

/** Every instance the adapter's stream hands over, by id. */
async function collect(
  adapter: MetricsAdapter,
  ...args: Parameters<MetricsAdapter['stream']>
): Promise<Map<string, InstanceMetrics>> {
  const out = new Map<string, InstanceMetrics>();
  for await (const done of adapter.stream(...args)) for (const [id, m] of done) out.set(id, m);
  return out;
}

describe('MetricsAdapter', () => {
  beforeEach(() => cw.reset());

  it('asks for CPU, NetworkIn and NetworkOut of each instance at a 5-minute period and maps the answers back', async () => {
    // Prepare
    cw.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries: MetricDataQuery[] }) => ({
      MetricDataResults: input.MetricDataQueries.map((q) => ({
        Id: q.Id,
        Timestamps: [new Date('2026-11-25T13:55:00Z')],
        Values: [q.MetricStat?.Metric?.MetricName === 'CPUUtilization' ? 1.5 : 1000],
      })),
    }));
    const adapter = new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const metrics = await collect(adapter, [ec2MetricsRequest('i-1', false)], from, to);

    // Assess
    expect(metrics.get('i-1')).toEqual({
      cpu: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 1.5 }],
      networkIn: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 1000 }],
      networkOut: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 1000 }],
    });
    expect(cw).toHaveReceivedCommandWith(GetMetricDataCommand, { StartTime: from, EndTime: to });
    const queries = cw.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries ?? [];
    expect(
      queries.map((q) => [q.MetricStat?.Metric?.MetricName, q.MetricStat?.Stat, q.MetricStat?.Period]),
    ).toEqual([
      ['CPUUtilization', 'Average', 300],
      ['NetworkIn', 'Sum', 300],
      ['NetworkOut', 'Sum', 300],
    ]);
    expect(queries[0]?.MetricStat?.Metric?.Dimensions).toEqual([{ Name: 'InstanceId', Value: 'i-1' }]);
  });

  it('batches at most 500 queries per call and follows NextToken', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [], NextToken: 'more' })
      .resolves({ MetricDataResults: [] });
    const adapter = new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' }));
    const requests = Array.from({ length: 400 }, (_, i) => ec2MetricsRequest(`i-${i}`, false));

    await collect(adapter, requests, from, to);

    // Batches are read at once (METRIC_DATA_CALLS_IN_PARALLEL), so the calls come in any order
    const inputs = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.MetricDataQueries?.length).sort()).toEqual([200, 500, 500, 500]);
    expect(adapter.calls).toBe(4);
    // the first batch needed a second page: asked with its NextToken and the same queries
    const [first] = inputs;
    const page2 = inputs.find((i) => i.NextToken === 'more');
    expect(first?.NextToken).toBeUndefined();
    expect(page2?.MetricDataQueries).toEqual(first?.MetricDataQueries);
  });

  it('adds the CloudWatch agent GPU metric for GPU types', async () => {
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    const adapter = new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' }));

    const metrics = await collect(adapter, [ec2MetricsRequest('i-g', true)], from, to);

    const queries = cw.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries ?? [];
    expect(queries.at(-1)?.MetricStat?.Metric).toMatchObject({
      Namespace: 'CWAgent',
      MetricName: 'nvidia_smi_utilization_gpu',
    });
    // Each period's peak: low values someone publishes for this instance cannot pull a busy GPU down.
    expect(queries.at(-1)?.MetricStat?.Stat).toBe('Maximum');
    expect(metrics.get('i-g')?.gpu).toEqual([]);
  });
});

describe('MetricsAdapter.stream', () => {
  beforeEach(() => cw.reset());

  /** Every query answered with one datapoint whose value is the call number (1, 2, ...). */
  function answerWithCallNumber(): void {
    let call = 0;
    cw.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries: MetricDataQuery[] }) => {
      call++;
      return {
        MetricDataResults: input.MetricDataQueries.map((q) => ({
          Id: q.Id,
          Timestamps: [new Date('2026-11-25T13:55:00Z')],
          Values: [call],
        })),
      };
    });
  }

  it('hands each instance over after the batch that holds its last series, with all of its series', async () => {
    // Prepare: 200 instances = 600 queries; instance 166 has CPU and NetworkIn in batch 1, NetworkOut in batch 2
    answerWithCallNumber();
    const adapter = new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' }));
    const requests = Array.from({ length: 200 }, (_, i) => ec2MetricsRequest(`i-${i}`, false));

    // Act
    const batches: string[][] = [];
    const all = new Map<string, unknown>();
    for await (const done of adapter.stream(requests, from, to)) {
      batches.push(done.map(([id]) => id));
      for (const [id, m] of done) all.set(id, m);
    }

    // Assess
    expect(batches.map((b) => b.length)).toEqual([166, 34]);
    expect(batches[0]?.at(-1)).toBe('i-165');
    expect(batches[1]?.[0]).toBe('i-166');
    expect(all.get('i-166')).toEqual({
      cpu: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 1 }],
      networkIn: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 1 }],
      networkOut: [{ at: Date.parse('2026-11-25T13:55:00Z'), value: 2 }],
    });
    expect(all.size).toBe(200);
    expect(adapter.calls).toBe(2);
  });

  it('ends with the error of a failing call, after handing over the instances of the batches before it', async () => {
    // Prepare: the second call fails
    cw.on(GetMetricDataCommand)
      .callsFakeOnce((input: { MetricDataQueries: MetricDataQuery[] }) => ({
        MetricDataResults: input.MetricDataQueries.map((q) => ({ Id: q.Id, Timestamps: [], Values: [] })),
      }))
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const adapter = new MetricsAdapter(new CloudWatchClient({ region: 'us-east-1' }));
    const requests = Array.from({ length: 200 }, (_, i) => ec2MetricsRequest(`i-${i}`, false));

    // Act
    const handed: string[] = [];
    const run = async () => {
      for await (const done of adapter.stream(requests, from, to)) handed.push(...done.map(([id]) => id));
    };

    // Assess: the straddling instance i-166 is not handed over half-measured
    await expect(run()).rejects.toThrow('Rate exceeded');
    expect(handed).toHaveLength(166);
    expect(handed).not.toContain('i-166');
  });
});

describe('Notifier', () => {
  beforeEach(() => sns.reset());

  it('publishes readable email text and JSON for programs, routed to the admin', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:123456789012:alerts',
    );

    await notifier.publish({
      subject: 'cost-watchdog: 1 stopped',
      text: 'Stopped i-1',
      data: { stopped: ['i-1'] },
    });

    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ MessageStructure: 'json', Subject: 'cost-watchdog: 1 stopped' });
    expect(JSON.parse(input?.Message ?? '{}')).toEqual({
      default: '{"stopped":["i-1"]}',
      email: 'Stopped i-1',
    });
    expect(input?.MessageAttributes).toEqual({ audience: { DataType: 'String', StringValue: 'admin' } });
    expect(notifier.published).toBe(1);
  });

  it('routes an owner message by the owner attribute only', async () => {
    sns.on(PublishCommand).resolves({});
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:123456789012:alerts',
    );

    await notifier.publish({ subject: 's', text: 't', data: {}, owner: 'bob' });

    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      MessageAttributes: { owner: { DataType: 'String', StringValue: 'bob' } },
    });
  });

  it('makes the subject valid for SNS (printable ASCII, at most 100 characters)', async () => {
    sns.on(PublishCommand).resolves({});
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:123456789012:alerts',
    );

    await notifier.publish({ subject: `Grüße\n${'x'.repeat(200)}`, text: 't', data: {} });

    const subject = sns.commandCalls(PublishCommand)[0]?.args[0].input.Subject ?? '';
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.length).toBe(100);
  });

  it('refuses a message over the SNS size limit instead of sending a truncated one', async () => {
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:123456789012:alerts',
    );

    await expect(notifier.publish({ subject: 's', text: 'x'.repeat(300_000), data: {} })).rejects.toThrow(
      /over the SNS limit/,
    );
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });
});
