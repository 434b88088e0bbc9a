/**
 * The sweep under AWS faults: throttling, 5xx, timeouts, CloudWatch down, a failing region, instances that
 * change state between describe and stop, tag writes that fail after a stop. Faults are injected into the real
 * adapters with aws-sdk-client-mock, and through the SDK's own middleware stack (retries, timeouts) with a
 * local HTTP server on 127.0.0.1 standing in for EC2.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsTarget, clientConfig, REQUEST_TIMEOUTS } from '../../src/aws/clients.js';
import { MetricsAdapter } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import type { SweepServices } from '../../src/aws/services.js';
import { type Policy, policySchema, TAGS } from '../../src/core/policy.js';
import type { SweepReport } from '../../src/core/report.js';
import { createSweepHandler, SweepIncompleteError } from '../../src/handlers/sweep.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';

const NOW = new Date('2026-11-25T14:00:00Z');
const HOUR = 3_600_000;
// The faults are injected into the batched GetMetricData calls (GetMetricStatistics has its own test).
const POLICY: Policy = policySchema.parse({
  regions: ['us-east-1', 'eu-west-1'],
  graceMinutes: 60,
  metricsApi: 'GetMetricData',
});
const ago = (hours: number) => new Date(NOW.getTime() - hours * HOUR);

/** An error as the SDK throws it for an AWS error code. */
function sdkError(name: string, status: number, message = `${name} (injected)`): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 5 },
  });
}

/** The faults every scenario is run with. */
const FAULTS: [string, () => Error][] = [
  ['ThrottlingException', () => sdkError('ThrottlingException', 400, 'Rate exceeded')],
  ['RequestLimitExceeded', () => sdkError('RequestLimitExceeded', 503, 'Request limit exceeded.')],
  ['a 500 InternalError', () => sdkError('InternalError', 500, 'An internal error has occurred')],
  ['a 503 ServiceUnavailable', () => sdkError('ServiceUnavailable', 503, 'Service Unavailable')],
  [
    'a timeout',
    () =>
      Object.assign(new Error('Connection timed out after 20000 ms'), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
  ],
];

// ------------------------------------------------------------------------------------------- the fleet

interface Box {
  id: string;
  region: string;
  /** Warned this many hours ago for idleness; undefined = never warned. */
  warnedHoursAgo?: number;
}

/** Two instances due for a stop and one new idle one in us-east-1; one due instance in eu-west-1. */
const BOXES: Box[] = [
  { id: 'i-0000000000000due1', region: 'us-east-1', warnedHoursAgo: 2 },
  { id: 'i-0000000000000due2', region: 'us-east-1', warnedHoursAgo: 2 },
  { id: 'i-00000000000fresh1', region: 'us-east-1' },
  { id: 'i-00000000000dueeu1', region: 'eu-west-1', warnedHoursAgo: 3 },
];
const [DUE1, DUE2, FRESH, DUE_EU] = BOXES.map((b) => b.id) as [string, string, string, string];

function describeAnswer(region: string) {
  return {
    Reservations: [
      {
        Instances: BOXES.filter((b) => b.region === region).map((b) => ({
          InstanceId: b.id,
          InstanceType: 't3.micro' as const,
          LaunchTime: ago(6),
          State: { Name: 'running' as const, Code: 16 },
          RootDeviceType: 'ebs' as const,
          Tags: [
            { Key: 'Name', Value: b.id },
            ...(b.warnedHoursAgo !== undefined
              ? [
                  { Key: TAGS.warnedAt, Value: ago(b.warnedHoursAgo).toISOString() },
                  { Key: TAGS.warnRule, Value: 'idle' },
                ]
              : []),
          ],
        })),
      },
    ],
  };
}

/** Idle datapoints (CPU 1 %, 1 kB per 5 minutes) for every query of a GetMetricData call. */
function idleAnswer(input: { MetricDataQueries?: { Id?: string }[] }) {
  const times = Array.from({ length: 36 }, (_, k) => new Date(NOW.getTime() - k * 300_000));
  const results: MetricDataResult[] = (input.MetricDataQueries ?? []).map((q) => ({
    Id: q.Id,
    Timestamps: times,
    Values: times.map(() => (q.Id?.startsWith('cpu') ? 1 : 1000)),
    StatusCode: 'Complete',
  }));
  return { MetricDataResults: results };
}

interface Region {
  ec2: AwsClientStub<EC2Client>;
  cw: AwsClientStub<CloudWatchClient>;
  /** Ids StopInstances succeeded for. */
  stopped: string[];
}

let regions: Map<string, Region>;
let services: SweepServices;

/** Decides before each mocked answer whether the call fails instead (the "share of calls" faults). */
let gate: () => Error | undefined = () => undefined;

function gated<I, O>(answer: (input: I) => O): (input: I) => O {
  return (input) => {
    const err = gate();
    if (err) throw err;
    return answer(input);
  };
}

function mockRegion(name: string): { region: Region; ec2Client: EC2Client; cwClient: CloudWatchClient } {
  const ec2Client = new EC2Client({ region: name });
  const cwClient = new CloudWatchClient({ region: name });
  const region: Region = {
    ec2: mockClient(ec2Client),
    cw: mockClient(cwClient),
    stopped: [],
  };
  region.ec2.on(DescribeInstancesCommand).callsFake(gated(() => describeAnswer(name)));
  region.ec2
    .on(DescribeInstanceTypesCommand)
    .callsFake(gated(() => ({ InstanceTypes: [{ InstanceType: 't3.micro', FreeTierEligible: true }] })));
  region.ec2
    .on(DescribeInstanceAttributeCommand)
    .callsFake(gated(() => ({ DisableApiStop: { Value: false } })));
  region.ec2.on(CreateTagsCommand).callsFake(gated(() => ({})));
  region.ec2.on(DeleteTagsCommand).callsFake(gated(() => ({})));
  region.ec2.on(StopInstancesCommand).callsFake(
    gated((input: { InstanceIds: string[] }) => {
      region.stopped.push(...input.InstanceIds);
      return {
        StoppingInstances: input.InstanceIds.map((id) => ({
          InstanceId: id,
          CurrentState: { Name: 'stopping' },
          PreviousState: { Name: 'running' },
        })),
      };
    }),
  );
  region.cw.on(GetMetricDataCommand).callsFake(gated(idleAnswer));
  return { region, ec2Client, cwClient };
}

beforeEach(() => {
  gate = () => undefined;
  regions = new Map();
  const adapters = new Map<string, { ec2: Ec2Adapter; metrics: MetricsAdapter }>();
  for (const name of ['us-east-1', 'eu-west-1']) {
    const { region, ec2Client, cwClient } = mockRegion(name);
    regions.set(name, region);
    adapters.set(name, { ec2: new Ec2Adapter(ec2Client, name), metrics: new MetricsAdapter(cwClient) });
  }
  const pick = (t: AwsTarget) => {
    const a = adapters.get(t.region);
    if (!a) throw new Error(`no mocked region ${t.region}`);
    return a;
  };
  services = { ec2: (t) => pick(t).ec2, metrics: (t) => pick(t).metrics };
});

afterEach(() => {
  for (const r of regions.values()) {
    r.ec2.restore();
    r.cw.restore();
  }
});

const region = (name: string) => regions.get(name) as Region;

function sweep(): Promise<SweepReport> {
  return runSweep({
    policy: POLICY,
    now: NOW,
    targets: [{ region: 'us-east-1' }, { region: 'eu-west-1' }],
    services,
    publish: async () => undefined,
  });
}

const stoppedByEc2 = () => [...regions.values()].flatMap((r) => r.stopped).sort();

// -------------------------------------------------------------------------------------------- the tests

describe('the sweep without faults (the baseline the fault cases compare with)', () => {
  it('stops the three instances whose grace has passed and warns the new one', async () => {
    const report = await sweep();

    expect([...report.stopped].sort()).toEqual([DUE1, DUE2, DUE_EU].sort());
    expect(report.warned).toEqual([FRESH]);
    expect(report.errors).toEqual([]);
  });
});

describe.each(FAULTS)('the sweep when AWS answers with %s', (_name, fault) => {
  it('finishes the other region when DescribeInstances fails in one, and marks that region failed', async () => {
    region('eu-west-1').ec2.on(DescribeInstancesCommand).rejects(fault());

    const report = await sweep();

    expect([...report.stopped].sort()).toEqual([DUE1, DUE2].sort());
    expect(report.scopes.find((s) => s.region === 'eu-west-1')).toMatchObject({ ok: false });
    expect(report.errors).toEqual([
      expect.objectContaining({ region: 'eu-west-1', operation: 'ec2:DescribeInstances' }),
    ]);
  });

  it('judges nothing idle, stops nothing for idleness and keeps the warnings when CloudWatch fails', async () => {
    region('us-east-1').cw.on(GetMetricDataCommand).rejects(fault());

    const report = await sweep();

    expect(report.stopped).toEqual([DUE_EU]);
    expect(report.warned).toEqual([]);
    expect(region('us-east-1').ec2).not.toHaveReceivedCommand(DeleteTagsCommand);
    expect(report.errors).toEqual([
      expect.objectContaining({ region: 'us-east-1', operation: 'cloudwatch:GetMetricData' }),
    ]);
    const due1 = report.decisions.find((d) => d.instanceId === DUE1);
    expect(due1?.reasons).toContain('the earlier warning stays: its rule could not be judged this run');
  });

  it('still judges idleness without type facts when DescribeInstanceTypes fails, and reports it', async () => {
    region('us-east-1').ec2.on(DescribeInstanceTypesCommand).rejects(fault());

    const report = await sweep();

    expect([...report.stopped].sort()).toEqual([DUE1, DUE2, DUE_EU].sort());
    expect(report.errors).toEqual([
      expect.objectContaining({ region: 'us-east-1', operation: 'ec2:DescribeInstanceTypes' }),
    ]);
  });

  it('postpones the stop of instances whose stop protection cannot be read', async () => {
    region('us-east-1').ec2.on(DescribeInstanceAttributeCommand).rejects(fault());

    const report = await sweep();

    expect(stoppedByEc2()).toEqual([DUE_EU]);
    expect(report.stopped).toEqual([DUE_EU]);
    expect(report.errors.map((e) => [e.instanceId, e.operation]).sort()).toEqual(
      [
        [DUE1, 'ec2:DescribeInstanceAttribute'],
        [DUE2, 'ec2:DescribeInstanceAttribute'],
        [FRESH, 'ec2:DescribeInstanceAttribute'],
      ].sort(),
    );
  });

  it('reports each instance StopInstances failed for and counts none of them as stopped', async () => {
    region('us-east-1').ec2.on(StopInstancesCommand).rejects(fault());

    const report = await sweep();

    expect(report.stopped).toEqual([DUE_EU]);
    expect(report.errors.map((e) => [e.instanceId, e.operation])).toEqual([
      [DUE1, 'ec2:StopInstances'],
      [DUE2, 'ec2:StopInstances'],
    ]);
  });

  it('reports a warning it could not write and the stop reasons it could not record', async () => {
    region('us-east-1').ec2.on(CreateTagsCommand).rejects(fault());

    const report = await sweep();

    expect(report.warned).toEqual([]);
    expect([...report.stopped].sort()).toEqual([DUE1, DUE2, DUE_EU].sort());
    expect(report.errors.map((e) => [e.instanceId, e.operation])).toEqual([
      [FRESH, 'ec2:CreateTags (warning)'],
      [DUE1, 'ec2:CreateTags (stop reason)'],
      [DUE2, 'ec2:CreateTags (stop reason)'],
    ]);
  });
});

describe('the sweep when instances change between describe and stop', () => {
  it.each([
    ['was stopped by its owner', 'IncorrectInstanceState'],
    ['was terminated', 'IncorrectInstanceState'],
    ['no longer exists', 'InvalidInstanceID.NotFound'],
  ])('stops the others and reports the one that %s', async (_what, code) => {
    region('us-east-1')
      .ec2.on(StopInstancesCommand)
      .callsFake((input: { InstanceIds: string[] }) => {
        if (input.InstanceIds.includes(DUE1)) throw sdkError(code, 400, `${DUE1}: ${code}`);
        region('us-east-1').stopped.push(...input.InstanceIds);
        return {
          StoppingInstances: input.InstanceIds.map((id) => ({
            InstanceId: id,
            CurrentState: { Name: 'stopping' },
          })),
        };
      });

    const report = await sweep();

    expect([...report.stopped].sort()).toEqual([DUE2, DUE_EU].sort());
    expect(stoppedByEc2()).toEqual([DUE2, DUE_EU].sort());
    expect(report.errors).toEqual([
      expect.objectContaining({
        instanceId: DUE1,
        operation: 'ec2:StopInstances',
        message: expect.stringContaining(code),
      }),
    ]);
    expect(region('us-east-1').ec2).not.toHaveReceivedCommandWith(CreateTagsCommand, { Resources: [DUE1] });
  });
});

describe('the sweep when a share of all calls is throttled', () => {
  /** A small deterministic generator, so that each seed is one reproducible pattern of failures. */
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it.each(Array.from({ length: 25 }, (_, k) => k + 1))(
    'finishes, stops only instances that are due and accounts for every due one (seed %i, 3 in 10 calls throttled)',
    async (seed) => {
      const next = random(seed);
      let injected = 0;
      gate = () => {
        if (next() >= 0.3) return undefined;
        injected++;
        return sdkError(next() < 0.5 ? 'ThrottlingException' : 'RequestLimitExceeded', 503);
      };

      const report = await sweep();

      // Nothing beyond the three due instances is ever stopped, and the report matches what EC2 did.
      expect(stoppedByEc2().every((id) => [DUE1, DUE2, DUE_EU].includes(id))).toBe(true);
      expect([...report.stopped].sort()).toEqual(stoppedByEc2());
      // Every due instance is either stopped or has an error in its region that says why not.
      for (const box of BOXES.filter((b) => b.warnedHoursAgo !== undefined)) {
        const accounted =
          report.stopped.includes(box.id) || report.errors.some((e) => e.region === box.region);
        expect(accounted, `${box.id} neither stopped nor explained`).toBe(true);
      }
      if (injected > 0 && report.errors.length === 0) {
        // Only a failed batch that the per-instance retry absorbed may leave no trace.
        expect(report.stopped.length + report.warned.length).toBeGreaterThan(0);
      }
    },
  );
});

describe('the sweep handler after a run with faults', () => {
  it('finishes the work, logs an error line and throws SweepIncompleteError so the Errors alarm fires', async () => {
    region('eu-west-1').ec2.on(DescribeInstancesCommand).rejects(sdkError('RequestLimitExceeded', 503));
    const logs: { level: string }[] = [];
    const dir = await import('node:fs').then((fs) => fs.mkdtempSync('/tmp/cw-faults-'));
    const policyFile = `${dir}/watchdog.yml`;
    (await import('node:fs')).writeFileSync(
      policyFile,
      'regions: [us-east-1, eu-west-1]\nmetricsApi: GetMetricData\n',
    );
    const handler = createSweepHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
        POLICY_FILE: policyFile,
      },
      services,
      notifier: { publish: async () => 'id' } as never,
      log: (r) => logs.push(r),
    });

    const failure = await handler({}).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(SweepIncompleteError);
    expect((failure as SweepIncompleteError).message).toMatch(/1 error\(s\): RequestLimitExceeded/);
    expect([...(failure as SweepIncompleteError).summary.stopped].sort()).toEqual([DUE1, DUE2].sort());
    expect(logs.map((l) => l.level)).toEqual(['error']);
  });
});

describe('the next run after a partial failure', () => {
  const policy = policySchema.parse({ regions: ['us-east-1'], graceMinutes: 60 });
  const idle = () => {
    const times = Array.from({ length: 36 }, (_, k) => NOW.getTime() + 10 * HOUR - k * 300_000);
    const series = times.map((at) => ({ at, value: 1 }));
    return { cpu: series, networkIn: series.map((p) => ({ ...p, value: 1000 })), networkOut: [...series] };
  };

  it('does not stop a restarted instance at once when the warning tag could not be removed after its stop', async () => {
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    const id = 'i-0000000000restart';
    fleet.add({
      instance: {
        instanceId: id,
        region: 'us-east-1',
        instanceType: 't3.micro',
        launchTime: ago(30).toISOString(),
        rootDeviceType: 'ebs',
        tags: { [TAGS.warnedAt]: ago(2).toISOString(), [TAGS.warnRule]: 'over-uptime' },
      },
      state: 'running',
      stopProtected: false,
    });
    fleet.fault = (op) => (op === 'untag' ? awsError('RequestLimitExceeded') : undefined);
    // Free-tier instances may run one hour; this one has run for 30.
    const strict = policySchema.parse({ regions: ['us-east-1'], maxRunningHours: { freeTier: 1 } });
    const first = await runSweep({
      policy: strict,
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
    });
    expect(first.stopped).toEqual([id]);
    expect(first.errors).toEqual([
      expect.objectContaining({ instanceId: id, operation: 'ec2:DeleteTags (after stop)' }),
    ]);
    // The owner starts it again the next day; the stale warning is still on it.
    const entry = fleet.find(id);
    if (!entry) throw new Error('instance vanished');
    entry.state = 'running';
    entry.instance.launchTime = new Date(NOW.getTime() + 24 * HOUR).toISOString();
    fleet.fault = () => undefined;

    const later = new Date(NOW.getTime() + 26 * HOUR);
    const second = await runSweep({
      policy: strict,
      now: later,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
    });

    expect(second.stopped).toEqual([]);
    expect(second.warned).toEqual([id]);
    expect(entry.instance.tags[TAGS.warnedAt]).toBe(later.toISOString());
  });

  it('keeps the warning through a CloudWatch outage and stops once the metrics are back, without a new grace', async () => {
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    const id = 'i-00000000000outage';
    fleet.add({
      instance: {
        instanceId: id,
        region: 'us-east-1',
        instanceType: 't3.micro',
        launchTime: ago(5).toISOString(),
        rootDeviceType: 'ebs',
        tags: { [TAGS.warnedAt]: ago(0.5).toISOString(), [TAGS.warnRule]: 'idle' },
      },
      state: 'running',
      stopProtected: false,
    });
    fleet.metrics.set(id, idle());
    const at = (hours: number) => new Date(NOW.getTime() + hours * HOUR);
    const run = (now: Date) =>
      runSweep({ policy, now, targets: [{ region: 'us-east-1' }], services: fleet.services() });

    fleet.fault = (op) => (op === 'metrics' ? awsError('ServiceUnavailable') : undefined);
    const during = await run(at(0.25));
    fleet.fault = () => undefined;
    const after = await run(at(10));

    expect(during).toMatchObject({ stopped: [], cleared: [], warned: [] });
    expect(during.errors).toEqual([expect.objectContaining({ operation: 'cloudwatch:GetMetricStatistics' })]);
    expect(after.stopped).toEqual([id]);
  });
});

describe('faults through the SDK middleware stack (a local HTTP server standing in for EC2)', () => {
  const EMPTY_DESCRIBE =
    '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>' +
    '<reservationSet/></DescribeInstancesResponse>';
  const THROTTLED =
    '<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error>' +
    '</Errors><RequestID>r</RequestID></Response>';
  let server: Server | undefined;
  let requests: number;

  async function serve(answer: (n: number) => { status: number; body: string } | 'hang'): Promise<string> {
    requests = 0;
    const created = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const a = answer(++requests);
        if (a === 'hang') return;
        res.writeHead(a.status, { 'content-type': 'text/xml' });
        res.end(a.body);
      });
    });
    server = created;
    await new Promise<void>((resolve) => created.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(created.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  const target = (endpoint: string) => ({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

  it('bounds every request attempt by timeouts well under the Lambda timeout of 300 s', () => {
    const config = clientConfig({ region: 'us-east-1' });

    expect(config.requestHandler).toEqual(REQUEST_TIMEOUTS);
    expect(config.maxAttempts * config.requestHandler.requestTimeout).toBeLessThan(300_000 / 2);
  });

  it('absorbs throttling with the SDK retries of the production client config', async () => {
    const endpoint = await serve((n) =>
      n === 1 ? { status: 503, body: THROTTLED } : { status: 200, body: EMPTY_DESCRIBE },
    );
    const ec2 = new Ec2Adapter(new EC2Client(clientConfig(target(endpoint))), 'us-east-1');

    const instances = await ec2.listRunning();

    expect(instances).toEqual([]);
    expect(requests).toBe(2);
  });

  it('reports the region as failed when throttling outlasts the retries', async () => {
    const endpoint = await serve(() => ({ status: 503, body: THROTTLED }));
    const client = new EC2Client({ ...clientConfig(target(endpoint)), maxAttempts: 2 });
    const adapters: SweepServices = {
      ec2: () => new Ec2Adapter(client, 'us-east-1'),
      metrics: () => new MetricsAdapter(new CloudWatchClient(clientConfig(target(endpoint)))),
    };

    const report = await runSweep({
      policy: POLICY,
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: adapters,
    });

    expect(requests).toBe(2);
    expect(report.scopes).toEqual([expect.objectContaining({ region: 'us-east-1', ok: false })]);
    expect(report.errors[0]?.message).toMatch(/RequestLimitExceeded/);
  });

  it('turns a hung connection into a reported TimeoutError instead of a hung sweep', async () => {
    const endpoint = await serve(() => 'hang');
    const client = new EC2Client({
      ...clientConfig(target(endpoint)),
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 200, requestTimeout: 200, throwOnRequestTimeout: true },
    });
    const adapters: SweepServices = {
      ec2: () => new Ec2Adapter(client, 'us-east-1'),
      metrics: () => new MetricsAdapter(new CloudWatchClient(clientConfig(target(endpoint)))),
    };

    const report = await runSweep({
      policy: POLICY,
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: adapters,
    });

    expect(requests).toBe(2);
    expect(report.errors).toEqual([
      expect.objectContaining({
        operation: 'ec2:DescribeInstances',
        message: expect.stringMatching(/TimeoutError|timed out|timeout/i),
      }),
    ]);
  });
});
