import { monthBounds } from '../../src/core/usage.js';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  CreateNatGatewayCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { UsageStore } from '../../src/aws/usage-store.js';
import type { Digest } from '../../src/core/digest.js';
import { TAGS } from '../../src/core/policy.js';
import { main } from '../../src/cli/main.js';
import { createDigestHandler } from '../../src/handlers/digest.js';
import { clients, createTopic, endpoint, resetEmulator, seedInstances, sentMessages } from './support.js';
import { policyFile } from '../support/policy-file.js';

const REGION = 'us-east-1';
const HOUR = 3_600_000;

/** Seeds the fleet; returns the ids and the time the figures are computed at. */
async function seedFleet() {
  const { ec2, ssm } = clients(REGION);
  const [micro] = (await seedInstances(REGION, {
    type: 't3.micro',
    tags: { Owner: 'alice', Name: 'nb' },
  })) as [string];
  const [large] = (await seedInstances(REGION, { type: 't3.large', tags: { Owner: 'bob' } })) as [string];
  const now = new Date(Date.now() + 1000);
  await ec2.send(new StopInstancesCommand({ InstanceIds: [large] }));
  await ec2.send(
    new CreateTagsCommand({
      Resources: [large],
      Tags: [
        { Key: TAGS.stoppedAt, Value: new Date(now.getTime() - 5 * HOUR).toISOString() },
        { Key: TAGS.stopReason, Value: 'idle: CPU avg 0.3% (limit 5%)' },
      ],
    }),
  );
  await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 100, VolumeType: 'gp3' }));
  await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8, VolumeType: 'gp2' }));
  const idle = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  const used = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await ec2.send(new AssociateAddressCommand({ AllocationId: used.AllocationId, InstanceId: micro }));
  // What hourly sweeps would have recorded this month.
  await new UsageStore(ssm).recordSweep(
    {
      months: [
        {
          month: monthBounds(now).start.toISOString(),
          at: new Date(now.getTime() - 1000),
          instanceHours: 150,
          freeTierHours: 120,
          estimatedUsd: 12.5,
          byOwner: { alice: { hours: 120, usd: 1.25 }, bob: { hours: 30, usd: 11.25 } },
        },
      ],
      instancesRunning: 2,
      unpriced: [],
    },
    1,
    new Date(now.getTime() - 1000),
  );
  return { micro, large, now, idleIp: idle.PublicIp as string };
}

beforeEach(async () => {
  await resetEmulator();
});

/** The digest handler against the emulator, for one region, publishing to `topicArn`, at `now`. */
function digestHandler(topicArn: string, now: Date) {
  return createDigestHandler({
    clock: () => now,
    env: {
      AWS_REGION: REGION,
      TOPIC_ARN: topicArn,
      POLICY_FILE: policyFile(`regions: [${REGION}]\n`),
      AWS_ENDPOINT_URL: endpoint(),
    },
    log: () => {},
  });
}

describe('digest on the emulator', () => {
  it('emails the expected figures for a fleet with volumes and addresses, as text and the same data as JSON', async () => {
    // Prepare
    const { micro, large, now, idleIp } = await seedFleet();
    const topicArn = await createTopic(REGION);
    const handler = digestHandler(topicArn, now);

    // Act
    const summary = await handler({});

    // Assess
    expect(summary).toMatchObject({ running: 1, sent: true, errors: [] });
    const [message] = await sentMessages(topicArn);
    expect(message?.attributes).toEqual({ audience: 'admin' });
    const body = JSON.parse(message?.message ?? '{}') as { default: string; email: string };
    const d = JSON.parse(body.default) as Digest;
    expect(
      d.running.map((r) => [r.instanceId, r.instanceType, r.owner, r.usdPerHour, r.priceSource]),
    ).toEqual([[micro, 't3.micro', 'alice', 0.0104, 'bundled-table']]);
    expect(d.thisMonth).toMatchObject({
      instanceHours: 150,
      estimated: { usd: 12.5, source: 'cloudwatch-metrics', estimate: true },
      byOwner: [
        { owner: 'bob', hours: 30, usd: 11.25 },
        { owner: 'alice', hours: 120, usd: 1.25 },
      ],
    });
    expect(d.freeTier).toMatchObject({ usedHours: 120, allowanceHours: 750 });
    expect(d.lastDay.stops).toEqual([
      {
        instanceId: large,
        region: REGION,
        stoppedAt: expect.any(String),
        reason: 'idle: CPU avg 0.3% (limit 5%)',
        owner: 'bob',
      },
    ]);
    expect(d.savings.items.map((s) => [s.instanceId, s.hoursNotRun, s.savedUsd])).toEqual([[large, 5, 0.42]]);
    expect(d.savings.lastDay.usd).toBe(0.42);
    expect(d.leaks.volumes.map((v) => [v.sizeGb, v.volumeType, v.usdPerMonth])).toEqual([
      [100, 'gp3', 8],
      [8, 'gp2', 0.8],
    ]);
    expect(d.leaks.elasticIps.map((a) => a.publicIp)).toEqual([idleIp]);
    expect(d.leaks.publicIpv4).toEqual({ count: 1, usdPerHour: 0.005, usdPerMonth: 3.65 });
    // bob's stopped t3.large still pays for its 8 GB root volume (moto gives it gp2): $0.80 a month.
    expect(d.leaks.stoppedInstances).toEqual([
      {
        instanceId: large,
        region: REGION,
        instanceType: 't3.large',
        owner: 'bob',
        sizeGb: 8,
        usdPerMonth: 0.8,
      },
    ]);
    expect(d.leaks.totalUsdPerMonth).toEqual({ usd: 16.9, source: 'bundled-table', estimate: true });
    expect(body.email).toContain('COST LEAKS: about $16.90 (est., table) a month');
    expect(body.email).toContain('120.0 h used of 750 h');
  });

  it('prints the same report in the terminal with `cost-watchdog digest`', async () => {
    // Prepare
    const { now } = await seedFleet();
    const out: string[] = [];
    const err: string[] = [];

    // Act
    const code = await main(
      [
        'digest',
        '--region',
        REGION,
        '--policy',
        policyFile(`regions: [${REGION}]\n`),
        '--at',
        now.toISOString(),
        '--endpoint-url',
        endpoint(),
      ],
      { out: (t) => out.push(t), err: (t) => err.push(t), env: { ...process.env } },
    );

    // Assess
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('RUNNING NOW: 1 instance(s), together $0.0104/h (est., table)');
    expect(text).toContain('COST LEAKS: about $16.90 (est., table) a month');
    expect(text).toMatch(/DOLLARS SAVED BY STOPS: last 24 h \$0\.42/);
  });

  it('prices a NAT gateway by the hour plus the data CloudWatch says it processed in the last 7 days', async () => {
    // Prepare: a NAT gateway (moto stamps it with the real clock), the digest run 10 days later, and 14 GB
    // processed in its last 7 days (7 GB from clients in the VPC, 7 GB back from destinations).
    const { ec2, cloudwatch } = clients(REGION);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    const subnet = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpc.Vpc?.VpcId, CidrBlock: '10.0.1.0/24' }),
    );
    const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    const nat = await ec2.send(
      new CreateNatGatewayCommand({
        SubnetId: subnet.Subnet?.SubnetId,
        AllocationId: eip.AllocationId,
        TagSpecifications: [{ ResourceType: 'natgateway', Tags: [{ Key: 'Owner', Value: 'bob' }] }],
      }),
    );
    const natId = nat.NatGateway?.NatGatewayId as string;
    const now = new Date(Date.now() + 10 * 24 * HOUR);
    const lastFullHour = Math.floor(now.getTime() / HOUR) * HOUR;
    const GIB = 1024 ** 3;
    const point = (metric: string, hoursBefore: number, gb: number) => ({
      MetricName: metric,
      Dimensions: [{ Name: 'NatGatewayId', Value: natId }],
      Timestamp: new Date(lastFullHour - hoursBefore * HOUR),
      Value: gb * GIB,
      Unit: 'Bytes' as const,
    });
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/NATGateway',
        MetricData: [
          point('BytesInFromSource', 2, 5),
          point('BytesInFromSource', 100, 2),
          point('BytesInFromDestination', 2, 7),
          // outside the window: not counted
          point('BytesInFromDestination', 8 * 24, 50),
        ],
      }),
    );
    const topicArn = await createTopic(REGION);
    const handler = digestHandler(topicArn, now);

    // Act
    const summary = await handler({});

    // Assess: 0.045 x 730 = 32.85, plus 14 GB / 7 days x 30.4 x 0.045 = 2.736 a month
    expect(summary).toMatchObject({ sent: true, errors: [] });
    const [message] = await sentMessages(topicArn);
    const body = JSON.parse(message?.message ?? '{}') as { default: string; email: string };
    const d = JSON.parse(body.default) as Digest;
    expect(d.leaks.stopped.items.filter((i) => i.what === 'nat-gateway')).toEqual([
      {
        what: 'nat-gateway',
        id: natId,
        region: REGION,
        owner: 'bob',
        detail: '$0.045/h + 14.0 GB processed in the last 7 days (~$2.74/month at $0.045/GB)',
        usdPerMonth: 35.59,
      },
    ]);
    expect(body.email).toMatch(/NAT gateways \(1\), \$35\.59\/month:/);
  });
});
