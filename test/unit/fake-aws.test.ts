/**
 * The benchmark's fake AWS (bench/fake-aws.ts) holds the sweep to AWS's limits, so its figures cannot flatter:
 * tested here on its own, through real SDK clients where the SDK's handling matters (errors, retries, pages).
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { FanOutQueues } from '../../src/aws/fan-out-queue.js';
import { MemberCredentials } from '../../src/aws/sts.js';
import { describe, expect, it } from 'vitest';
import {
  AWS_RATE_LIMITS,
  FakeAws,
  indentXml,
  type FakeAwsOptions,
  instanceId,
  MAX_DATAPOINTS,
} from '../../bench/fake-aws.js';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { RdsClusters, RdsInstances } from '../../src/aws/rds.js';
import { SageMakerNotebooks } from '../../src/aws/sagemaker.js';
import type { InstanceMetrics } from '../../src/core/instance.js';
import { ec2MetricsRequest } from '../../src/core/kinds.js';

const NOW = Date.parse('2026-11-25T14:00:00Z');
const FROM = new Date(NOW - 2 * 3_600_000);
const TO = new Date(NOW);

function fake(options: Partial<FakeAwsOptions> = {}): FakeAws {
  return new FakeAws({
    fleet: { 'us-east-1': 1_000 },
    scenario: 'steady',
    now: NOW,
    latency: { baseMs: 250, perInstanceMs: 0.5, perDatapointMs: 0.01 },
    throttle: { limits: false, randomShare: 0, seed: 1 },
    wait: false,
    ...options,
  });
}

const config = (aws: FakeAws, maxAttempts = 1) => ({
  region: 'us-east-1',
  credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
  requestHandler: aws.requestHandler(),
  maxAttempts,
  retryMode: 'adaptive',
});

const cpuQuery = (k: number): MetricDataQuery => ({
  Id: `cpu${k}`,
  MetricStat: {
    Metric: {
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: instanceId(13, k) }],
    },
    Period: 300,
    Stat: 'Average',
  },
});

/** A request to the fake as the SDK signs it (the fake reads the service and region from the signature). */
const signed = (service: string, body: string) => ({
  headers: { authorization: `AWS4-HMAC-SHA256 Credential=fake/20261125/us-east-1/${service}/aws4_request` },
  body,
});

describe('the fake GetMetricData', () => {
  it('answers 500 queries and refuses 501 with a ValidationError, as CloudWatch does', async () => {
    // Prepare
    const cw = new CloudWatchClient(config(fake()));
    const ask = (n: number) =>
      cw.send(
        new GetMetricDataCommand({
          MetricDataQueries: Array.from({ length: n }, (_, k) => cpuQuery(k)),
          StartTime: FROM,
          EndTime: TO,
        }),
      );

    // Act
    const ok = await ask(500);
    const refused = ask(501);

    // Assess
    expect(ok.MetricDataResults).toHaveLength(500);
    expect(ok.MetricDataResults?.[0]?.Values).toHaveLength(24);
    // (the SDK names CloudWatch's query-compatible ValidationError code ValidationException)
    await expect(refused).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'The collection MetricDataQueries must not have a size greater than 500.',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('answers at most MaxDatapoints datapoints, marks the cut series PartialData and pages on with NextToken', async () => {
    // Prepare: 10 series of 24 points, at most 50 points an answer (CloudWatch's default is 100,800)
    const cw = new CloudWatchClient(config(fake({ maxDatapoints: 50 })));
    const queries = Array.from({ length: 10 }, (_, k) => cpuQuery(k));

    // Act
    const pages = [];
    let token: string | undefined;
    do {
      const page = await cw.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries,
          StartTime: FROM,
          EndTime: TO,
          ...(token ? { NextToken: token } : {}),
        }),
      );
      pages.push(page);
      token = page.NextToken;
    } while (token);

    // Assess: 240 points in pages of at most 50, every point exactly once
    expect(pages).toHaveLength(5);
    expect(pages.map((p) => p.MetricDataResults?.reduce((n, r) => n + (r.Values?.length ?? 0), 0))).toEqual([
      50, 50, 50, 50, 40,
    ]);
    expect(pages[0]?.MetricDataResults?.[2]).toMatchObject({ StatusCode: 'PartialData' });
    expect(pages[0]?.MetricDataResults?.[3]).toMatchObject({ StatusCode: 'PartialData', Values: [] });
    for (const q of queries) {
      const times = pages.flatMap(
        (p) => p.MetricDataResults?.find((r) => r.Id === q.Id)?.Timestamps?.map((t) => t.getTime()) ?? [],
      );
      expect(new Set(times).size).toBe(24);
      expect(times).toHaveLength(24);
    }
    expect(MAX_DATAPOINTS).toBe(100_800);
  });

  it('gives the sweep adapter the same datapoints whether an answer needs one page or many', async () => {
    // Prepare
    const requests = Array.from({ length: 200 }, (_, k) => ec2MetricsRequest(instanceId(13, k), false));
    const read = async (aws: FakeAws) => {
      const out = new Map<string, InstanceMetrics>();
      const adapter = new MetricsAdapter(new CloudWatchClient(config(aws)));
      for await (const done of adapter.stream(requests, FROM, TO)) for (const [id, m] of done) out.set(id, m);
      return out;
    };
    const paged = fake({ maxDatapoints: 1_000 });

    // Act
    const [whole, inPages] = [await read(fake()), await read(paged)];

    // Assess: 600 series x 24 points came in pages of 1,000, and nothing was lost or doubled
    expect(paged.counters().metricPages).toBeGreaterThan(10);
    expect(inPages).toEqual(whole);
    expect(whole.get(instanceId(13, 0))?.networkIn).toHaveLength(24);
  });

  it('answers GetMetricStatistics, and refuses more than 1,440 datapoints in one call', async () => {
    const cw = new CloudWatchClient(config(fake()));
    const ask = (hours: number) =>
      cw.send(
        new GetMetricStatisticsCommand({
          Namespace: 'AWS/EC2',
          MetricName: 'CPUUtilization',
          Dimensions: [{ Name: 'InstanceId', Value: instanceId(13, 5) }],
          StartTime: new Date(NOW - hours * 3_600_000),
          EndTime: TO,
          Period: 300,
          Statistics: ['Average'],
        }),
      );

    const ok = await ask(2);

    expect(ok.Datapoints).toHaveLength(24);
    expect(ok.Datapoints?.[0]).toMatchObject({ Average: 40 });
    await expect(ask(121)).rejects.toMatchObject({ name: 'InvalidParameterCombinationException' });
  });
});

describe('the fake EC2', () => {
  it('pages DescribeInstances by MaxResults and NextToken, and refuses pages over 1,000', async () => {
    const ec2 = new EC2Client(config(fake({ fleet: { 'us-east-1': 2_500 } })));

    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 1000 }));
    const last = await ec2.send(new DescribeInstancesCommand({ MaxResults: 1000, NextToken: '2000' }));

    const count = (r: typeof first) => r.Reservations?.flatMap((x) => x.Instances ?? []).length;
    expect([count(first), first.NextToken]).toEqual([1000, '1000']);
    expect([count(last), last.NextToken]).toEqual([500, undefined]);
    await expect(ec2.send(new DescribeInstancesCommand({ MaxResults: 1001 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });

  it('lays out EC2 answers as EC2 does: a line per element, four spaces a level, text elements on one line', () => {
    expect(indentXml('<a><b>x &amp; y</b><c/><d><e></e><f>1</f></d></a>')).toBe(
      [
        '<a>',
        '    <b>x &amp; y</b>',
        '    <c/>',
        '    <d>',
        '        <e></e>',
        '        <f>1</f>',
        '    </d>',
        '</a>',
      ].join('\n'),
    );
  });
});

describe('the fake throttling', () => {
  it("throttles an EC2 API past its bucket with 503 RequestLimitExceeded, and refills at the bucket's rate", async () => {
    // Prepare: a bucket of 3, refilled at 20 a second, on the fake's own clock
    let clock = 0;
    const aws = fake({
      throttle: {
        limits: { 'ec2:DescribeInstanceAttribute': { capacity: 3, perSecond: 20 } },
        randomShare: 0,
        seed: 1,
      },
      clock: () => clock,
    });
    const ec2 = new EC2Client(config(aws));
    const check = () =>
      ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: 'i-1', Attribute: 'disableApiStop' }));

    // Act + Assess
    for (let k = 0; k < 3; k++) await check();
    await expect(check()).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
      $metadata: { httpStatusCode: 503 },
    });
    clock += 100; // two tokens later
    await check();
    await check();
    await expect(check()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    expect(aws.counters()).toMatchObject({
      calls: { 'ec2:DescribeInstanceAttribute': 5 },
      throttled: { 'ec2:DescribeInstanceAttribute': 2 },
    });
  });

  it('throttles the configured share of calls at random, the same calls for the same seed', () => {
    const statuses = (seed: number) => {
      const aws = fake({ throttle: { limits: false, randomShare: 0.2, seed } });
      return Array.from({ length: 1000 }, () => aws.respond(signed('ec2', 'Action=DescribeRegions')).status);
    };
    const throttled = (s: number[]) => s.filter((x) => x === 503).length;

    const [a, again, other] = [statuses(7), statuses(7), statuses(8)];

    expect(again).toEqual(a);
    expect(other).not.toEqual(a);
    expect(throttled(a)).toBeGreaterThan(150);
    expect(throttled(a)).toBeLessThan(250);
    expect(a.filter((x) => x !== 503).every((x) => x === 200)).toBe(true);
  });

  it("makes the SDK's adaptive retry wait and try again, with SSM's own throttling error", async () => {
    // Prepare: SSM's PutParameter rate (3 a second): the fourth write at once is throttled
    const aws = fake({
      throttle: { limits: AWS_RATE_LIMITS, randomShare: 0, seed: 1 },
      latency: { baseMs: 0, perInstanceMs: 0, perDatapointMs: 0 },
      wait: true,
    });
    const ssm = new SSMClient(config(aws, 3));

    // Act
    for (let k = 0; k < 4; k++)
      await ssm.send(
        new PutParameterCommand({ Name: `/p/${k}`, Value: 'v', Type: 'String', Overwrite: true }),
      );
    const read = await ssm.send(new GetParameterCommand({ Name: '/p/3' }));

    // Assess: one attempt throttled (ThrottlingException), retried, and the value written
    expect(aws.counters().throttled).toEqual({ 'ssm:PutParameter': 1 });
    expect(aws.counters().calls['ssm:PutParameter']).toBe(4);
    expect(read.Parameter?.Value).toBe('v');
  }, 20_000);
});

describe('the fake latency', () => {
  it('makes a page of 1,000 instances slower than a full GetMetricData batch, and both slower than a small call', () => {
    const aws = fake();
    const page = aws.respond(signed('ec2', 'Action=DescribeInstances&MaxResults=1000'));
    const batch = aws.respond({
      ...signed('monitoring', ''),
      headers: {
        ...signed('monitoring', '').headers,
        'x-amz-target': 'GraniteServiceVersion20100801.GetMetricData',
      },
      body: JSON.stringify({
        MetricDataQueries: Array.from({ length: 500 }, (_, k) => cpuQuery(k)),
        StartTime: FROM.getTime() / 1000,
        EndTime: TO.getTime() / 1000,
      }),
    });
    const small = aws.respond(signed('ec2', 'Action=DescribeRegions'));

    expect(page.latencyMs).toBe(250 + 1000 * 0.5);
    expect(batch.latencyMs).toBeCloseTo(250 + 500 * 24 * 0.01, 6);
    expect(small.latencyMs).toBe(250);
  });
});

describe('the fake SageMaker and RDS', () => {
  it('answer the listings of every sweep with no notebooks and no databases, one call each', async () => {
    // Prepare
    const aws = fake();
    const rds = new RDSClient(config(aws));
    const fleets = [
      new SageMakerNotebooks(new SageMakerClient(config(aws)), 'us-east-1'),
      new RdsInstances(rds, 'us-east-1'),
      new RdsClusters(rds, 'us-east-1'),
    ];

    // Act
    const listed = await Promise.all(fleets.map((f) => f.listRunning()));

    // Assess
    expect(listed).toEqual([[], [], []]);
    expect(aws.counters().calls).toEqual({
      'sagemaker:ListNotebookInstances': 1,
      'rds:DescribeDBInstances': 1,
      'rds:DescribeDBClusters': 1,
    });
    expect(aws.counters().errors).toEqual({});
  });
});

describe('the fake SQS and STS (the fan-out)', () => {
  const urls = {
    targets: 'http://127.0.0.1:1/123456789012/targets',
    results: 'http://127.0.0.1:1/123456789012/results',
    deadLetter: 'http://127.0.0.1:1/123456789012/dead-letter',
  };

  it('takes targets in batches of 10, hands them out with the MD5 the SDK checks, and deletes what was read', async () => {
    const aws = fake();
    const queues = new FanOutQueues(new SQSClient({ ...config(aws), endpoint: 'http://127.0.0.1:1' }), {
      ...urls,
      // The planner's reader reads the results queue: point it at the targets to read them back.
      results: urls.targets,
    });
    const bodies = Array.from({ length: 25 }, (_, k) => JSON.stringify({ k }));

    const failed = await queues.sendTargets(bodies);
    const first = await queues.receive('results', 0);
    await queues.delete(
      'results',
      first.map((m) => m.receipt),
    );

    expect(failed.size).toBe(0);
    expect(aws.counters().calls['sqs:SendMessageBatch']).toBe(3);
    expect(first).toHaveLength(10);
    expect(first[0]?.receiveCount).toBe(1);
    expect(aws.queueBodies('targets')).toHaveLength(15);
    // Each SendMessageBatch is one billed request (under 64 KiB), and so is each receive and delete.
    expect(aws.counters().sqsBilled).toEqual({
      'sqs:SendMessageBatch': 3,
      'sqs:ReceiveMessage': 1,
      'sqs:DeleteMessageBatch': 1,
    });
  });

  it('bills each 64 KiB of a batch as one request, and counts an empty receive', async () => {
    const aws = fake();
    const queues = new FanOutQueues(new SQSClient({ ...config(aws), endpoint: 'http://127.0.0.1:1' }), urls);

    await queues.sendResults(['x'.repeat(100_000), 'y'.repeat(100_000)]);
    const none = await queues.receive('deadLetter', 20);

    expect(aws.counters().sqsBilled['sqs:SendMessageBatch']).toBe(Math.ceil(200_000 / 65_536));
    expect(none).toEqual([]);
    expect(aws.counters().sqsEmptyReceives).toBe(1);
  });

  it('answers a target message with a copy of a result for its run, index and target when asked to', async () => {
    const template = JSON.stringify({
      kind: 'result',
      runId: 'r',
      index: 0,
      scope: { region: 'x', instances: 5 },
    });
    const aws = fake({ echoResult: template });
    const queues = new FanOutQueues(new SQSClient({ ...config(aws), endpoint: 'http://127.0.0.1:1' }), urls);
    const target = {
      runId: '20261125T1400Z-schedule',
      at: 'a',
      index: 7,
      target: { region: 'eu-west-1', account: '111122223333' },
    };

    await queues.sendTargets([JSON.stringify(target)]);
    const [result] = aws.queueBodies('results').map((b) => JSON.parse(b) as Record<string, unknown>);

    expect(result).toMatchObject({
      runId: target.runId,
      index: 7,
      target: target.target,
      scope: { region: 'eu-west-1', account: '111122223333', instances: 5 },
    });
  });

  it('assumes a member role with credentials that name the account', async () => {
    const aws = fake();
    const sts = new MemberCredentials(new STSClient(config(aws)), 'us-east-1', () => new Date(NOW));

    const creds = await sts.forAccount('111122223333', 'cost-watchdog-member');

    expect(creds.accessKeyId).toBe('ASIA111122223333');
    expect(aws.counters().calls['sts:AssumeRole']).toBe(1);
  });
});
