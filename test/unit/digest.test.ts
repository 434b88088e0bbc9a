import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2CostsAdapter } from '../../src/aws/ec2-costs.js';
import { buildDigest, type DigestStop, renderDigest, savedByStops } from '../../src/core/digest.js';
import { TAGS } from '../../src/core/policy.js';
import { bundledPrice, type HourlyPrice } from '../../src/core/prices.js';
import { digestInput, hoursAgo, makeInstance, NOW, policyWith } from '../support/fleet.js';

const ec2 = mockClient(EC2Client);

beforeEach(() => {
  ec2.reset();
});

const price = (type: string, region: string): HourlyPrice => bundledPrice(type, region);

const input = digestInput;

function stop(overrides: Partial<DigestStop>): DigestStop {
  return {
    instanceId: 'i-stopped',
    region: 'us-east-1',
    instanceType: 't3.large',
    state: 'stopped',
    stoppedAt: hoursAgo(10),
    tags: {},
    ...overrides,
  };
}

describe('cost leaks', () => {
  it('prices unattached volumes, idle Elastic IPs and public IPv4 addresses of running instances', () => {
    // Prepare
    const running = [
      makeInstance({ publicIp: '198.51.100.1' }),
      makeInstance({ publicIp: '198.51.100.2' }),
      makeInstance(),
    ];

    // Act
    const d = buildDigest(
      input({
        running,
        volumes: [
          { volumeId: 'vol-1', region: 'us-east-1', sizeGb: 100, volumeType: 'gp3' },
          { volumeId: 'vol-2', region: 'us-east-1', sizeGb: 8, volumeType: 'gp2' },
        ],
        addresses: [
          { publicIp: '203.0.113.1', region: 'us-east-1', associated: false, allocationId: 'eipalloc-1' },
          {
            publicIp: '198.51.100.1',
            region: 'us-east-1',
            associated: true,
            instanceId: running[0]?.instanceId as string,
          },
          { publicIp: '203.0.113.2', region: 'us-east-1', associated: true, instanceId: 'i-stopped' },
        ],
      }),
    );

    // Assess
    expect(d.leaks.volumes.map((v) => [v.volumeId, v.usdPerMonth])).toEqual([
      ['vol-1', 8],
      ['vol-2', 0.8],
    ]);
    expect(d.leaks.elasticIps.map((a) => [a.publicIp, a.usdPerMonth, a.why])).toEqual([
      ['203.0.113.1', 3.65, 'not attached to anything'],
      ['203.0.113.2', 3.65, 'attached to i-stopped, which is not running'],
    ]);
    expect(d.leaks.publicIpv4).toEqual({ count: 2, usdPerHour: 0.01, usdPerMonth: 7.3 });
    expect(d.leaks.totalUsdPerMonth).toEqual({ usd: 23.4, source: 'bundled-table', estimate: true });
  });

  it('names what stopped instances still pay for their disks, per instance and owner, and counts it as a leak', () => {
    // Prepare: alice's stopped notebook keeps a 30 GB gp3 root and a 100 GB gp2 data disk
    const d = buildDigest(
      input({
        stoppedDisks: [
          {
            instanceId: 'i-nb',
            region: 'us-east-1',
            instanceType: 't3.micro',
            tags: { Name: 'notebook', Owner: 'alice' },
            volumes: [
              { volumeId: 'vol-root', sizeGb: 30, volumeType: 'gp3' },
              { volumeId: 'vol-data', sizeGb: 100, volumeType: 'gp2' },
            ],
          },
        ],
      }),
    );

    // Assess: 30 x $0.08 + 100 x $0.10 = $12.40 a month
    expect(d.leaks.stoppedInstances).toEqual([
      {
        instanceId: 'i-nb',
        region: 'us-east-1',
        instanceType: 't3.micro',
        name: 'notebook',
        owner: 'alice',
        sizeGb: 130,
        usdPerMonth: 12.4,
      },
    ]);
    expect(d.leaks.totalUsdPerMonth.usd).toBe(12.4);
    expect(renderDigest(d).text).toMatch(
      /Stopped instances still paying for their disks \(1\), \$12\.40\/month:/,
    );
    expect(renderDigest(d).text).toMatch(/i-nb +notebook +alice +us-east-1 +130 +12\.40/);
  });

  it('lists running stop-protected instances with their hourly price, which the watchdog can never stop', () => {
    const guarded = makeInstance({
      instanceId: 'i-guarded',
      instanceType: 'g4dn.xlarge',
      stopProtected: true,
      tags: { Owner: 'zoe' },
    });
    const plain = makeInstance({ instanceId: 'i-plain', stopProtected: false });

    const d = buildDigest(
      input({
        running: [guarded, plain],
        prices: new Map([['us-east-1/g4dn.xlarge', price('g4dn.xlarge', 'us-east-1')]]),
      }),
    );

    expect(d.stopProtected).toEqual([
      expect.objectContaining({ instanceId: 'i-guarded', owner: 'zoe', usdPerHour: 0.526 }),
    ]);
    expect(renderDigest(d).text).toContain(
      'STOP-PROTECTED: 1 running instance(s) the watchdog can never stop',
    );
  });

  it("itemises the watchdog's own bill after the free tier and at list price, with the topic key when there is one", () => {
    const plain = buildDigest(input({ running: [makeInstance()] }));
    const keyed = buildDigest(input({ running: [makeInstance()], topicKey: true }));

    expect(plain.watchdog.usdPerMonth).toBe(0);
    expect(plain.watchdog.items.map((i) => i.item)).toEqual([
      'Lambda',
      'CloudWatch metrics API (GetMetricStatistics)',
      'custom metrics',
      'alarms',
      'dashboard',
      'KMS key (topic encryption)',
      'SNS email',
      'CloudWatch Logs',
      'SSM parameters (month counters, keys)',
    ]);
    expect(keyed.watchdog.usdPerMonth).toBe(1);
    const text = renderDigest(keyed).text;
    expect(text).toMatch(
      /THE WATCHDOG ITSELF: about \$1\.00\/month after the AWS free tier \(\$\d+\.\d\d at list price; est\.\)/,
    );
    expect(text).toMatch(/KMS key \(topic encryption\) +1 key +1\.00 +1\.00/);
  });

  it('finds no leak in a tidy account', () => {
    const d = buildDigest(input({ running: [makeInstance()] }));

    expect(d.leaks.totalUsdPerMonth.usd).toBe(0);
  });
});

describe('dollars saved by stops', () => {
  it.each([
    ['still stopped: until now', stop({ stoppedAt: hoursAgo(10) }), 10, 10 * 0.0832, 10 * 0.0832],
    [
      'stopped 30 h ago: all counts, 24 h of it in the last day',
      stop({ stoppedAt: hoursAgo(30) }),
      30,
      30 * 0.0832,
      24 * 0.0832,
    ],
    [
      'started again 4 h after the stop: until the restart',
      stop({ state: 'running', stoppedAt: hoursAgo(10), launchTime: hoursAgo(6) }),
      4,
      4 * 0.0832,
      4 * 0.0832,
    ],
    [
      'running with a stop tag newer than its start (the stop did not take): nothing',
      stop({ state: 'running', stoppedAt: hoursAgo(2), launchTime: hoursAgo(6) }),
      null,
      0,
      0,
    ],
  ])('counts an instance %s', (_name, s, hours, total, lastDay) => {
    const saved = savedByStops([s], price, NOW);

    expect(saved.items[0]?.hoursNotRun ?? null).toBe(hours);
    expect(saved.sinceStops.usd).toBeCloseTo(total, 2);
    expect(saved.lastDay.usd).toBeCloseTo(lastDay, 2);
  });
});

describe('the digest', () => {
  const fleet = () => {
    const micro = makeInstance({ tags: { Name: 'nb', Owner: 'alice' }, launchTime: hoursAgo(5) });
    const gpu = makeInstance({
      instanceType: 'g4dn.xlarge',
      tags: { Owner: 'bob', [TAGS.warnedAt]: hoursAgo(1), [TAGS.warnRule]: 'idle' },
      launchTime: hoursAgo(3),
      typeInfo: { freeTierEligible: false, gpu: true },
    });
    return { micro, gpu };
  };

  function digestOf() {
    const { micro, gpu } = fleet();
    return buildDigest(
      input({
        running: [micro, gpu],
        prices: new Map([
          ['us-east-1/t3.micro', price('t3.micro', 'us-east-1')],
          [
            'us-east-1/g4dn.xlarge',
            { ...price('g4dn.xlarge', 'us-east-1'), source: 'price-list-api' as const },
          ],
          ['us-east-1/t3.large', price('t3.large', 'us-east-1')],
        ]),
        stops: [stop({ stoppedAt: hoursAgo(2), stopReason: 'idle: CPU avg 0.4%', tags: { Owner: 'carol' } })],
        month: {
          freeTierHours: 300,
          instanceHours: 400,
          estimatedCostUsd: 48,
          stops: 3,
          dollarsSaved: 1,
          byOwner: { alice: { hours: 300, usd: 3.12 }, bob: { hours: 100, usd: 44.88 } },
        },
      }),
    );
  }

  it('lists what runs now with uptime and price, most expensive first, and the month per owner', () => {
    const d = digestOf();

    expect(d.running.map((r) => [r.instanceType, r.uptimeHours, r.usdPerHour, r.priceSource])).toEqual([
      ['g4dn.xlarge', 3, 0.526, 'price-list-api'],
      ['t3.micro', 5, 0.0104, 'bundled-table'],
    ]);
    expect(d.runningUsdPerHour).toEqual({ usd: 0.5364, source: 'bundled-table', estimate: true });
    expect(d.thisMonth?.byOwner).toEqual([
      { owner: 'bob', hours: 100, usd: 44.88 },
      { owner: 'alice', hours: 300, usd: 3.12 },
    ]);
    expect(d.thisMonth?.estimated).toEqual({ usd: 48, source: 'cloudwatch-metrics', estimate: true });
    expect(d.freeTier).toMatchObject({ usedHours: 300, allowanceHours: 750 });
    expect(d.lastDay.warnings.map((w) => [w.rule, w.owner])).toEqual([['idle', 'bob']]);
    expect(d.lastDay.stops.map((s) => [s.instanceId, s.reason, s.owner])).toEqual([
      ['i-stopped', 'idle: CPU avg 0.4%', 'carol'],
    ]);
  });

  it('renders an aligned plain-text email and carries the same data as JSON', () => {
    const d = digestOf();

    const alert = renderDigest(d);

    expect(alert.data).toBe(d);
    expect(alert.subject).toBe(
      'cost-watchdog digest 2026-11-25: 2 running, ~$48.00 this month, leaks ~$0.00/month',
    );
    const lines = alert.text.split('\n');
    const header = lines.find((l) => l.startsWith('INSTANCE') && l.includes('UPTIME')) as string;
    const rows = lines.slice(lines.indexOf(header) + 2, lines.indexOf(header) + 4);
    expect(rows.map((r) => r.indexOf('3.0 h') >= 0 || r.indexOf('5.0 h') >= 0)).toEqual([true, true]);
    // Aligned: every row's $/H column starts where the header's does.
    const col = header.indexOf('$/H');
    for (const r of rows) expect(r.slice(col).trimEnd()).toMatch(/^\d+\.\d{4}\s+(price list|table)$/);
    expect(alert.text).toContain('300.0 h used of 750 h');
    expect(alert.text).toContain('Sources:');
    expect([...alert.text].every((c) => c === '\n' || (c >= ' ' && c <= '~'))).toBe(true);
  });

  it('says when the month figures could not be read instead of showing zeros', () => {
    const d = buildDigest(input({ running: [makeInstance()] }));

    expect(d.thisMonth).toBeNull();
    expect(renderDigest(d).text).toContain("Not available: the month's counters could not be read");
  });

  it('shows the budget state when a budget is set', () => {
    const d = buildDigest(
      input({
        policy: policyWith({ budget: { monthlyUsd: 50 } }),
        month: {
          freeTierHours: 0,
          instanceHours: 0,
          estimatedCostUsd: 45,
          stops: 0,
          dollarsSaved: 0,
          byOwner: {},
        },
      }),
    );

    expect(d.budget).toMatchObject({ level: 'warning', share: 0.9, action: 'notify' });
  });
});

describe('reading leaks from EC2', () => {
  it('asks for available volumes only and reports their size and type', async () => {
    ec2.on(DescribeVolumesCommand).resolves({
      Volumes: [
        {
          VolumeId: 'vol-1',
          Size: 30,
          VolumeType: 'gp3',
          State: 'available',
          Tags: [{ Key: 'Name', Value: 'old' }],
        },
      ],
    });

    const volumes = await new Ec2CostsAdapter(
      new EC2Client({ region: 'eu-west-1' }),
      'eu-west-1',
    ).unattachedVolumes();

    expect(volumes).toEqual([
      { volumeId: 'vol-1', region: 'eu-west-1', sizeGb: 30, volumeType: 'gp3', name: 'old' },
    ]);
    expect(ec2).toHaveReceivedCommandWith(DescribeVolumesCommand, {
      Filters: [{ Name: 'status', Values: ['available'] }],
    });
  });

  it('tells attached Elastic IPs from unattached ones by their association', async () => {
    ec2.on(DescribeAddressesCommand).resolves({
      Addresses: [
        { PublicIp: '203.0.113.1', AllocationId: 'eipalloc-1' },
        {
          PublicIp: '203.0.113.2',
          AllocationId: 'eipalloc-2',
          AssociationId: 'eipassoc-1',
          InstanceId: 'i-1',
        },
      ],
    });

    const addresses = await new Ec2CostsAdapter(
      new EC2Client({ region: 'us-east-1' }),
      'us-east-1',
    ).elasticAddresses();

    expect(addresses.map((a) => [a.publicIp, a.associated])).toEqual([
      ['203.0.113.1', false],
      ['203.0.113.2', true],
    ]);
  });

  it('finds stopped instances and the size and type of their volumes, 200 volume ids per call', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-1',
              InstanceType: 't3.micro',
              State: { Name: 'stopped' },
              Tags: [{ Key: 'Owner', Value: 'alice' }],
              BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-1' } }],
            },
          ],
        },
      ],
    });
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [{ VolumeId: 'vol-1', Size: 8, VolumeType: 'gp3' }] });

    const found = await new Ec2CostsAdapter(
      new EC2Client({ region: 'us-east-1' }),
      'us-east-1',
    ).stoppedInstanceDisks();

    expect(found).toEqual([
      {
        instanceId: 'i-1',
        region: 'us-east-1',
        instanceType: 't3.micro',
        tags: { Owner: 'alice' },
        volumes: [{ volumeId: 'vol-1', sizeGb: 8, volumeType: 'gp3' }],
      },
    ]);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-state-name', Values: ['stopped'] }],
    });
    expect(ec2).toHaveReceivedCommandWith(DescribeVolumesCommand, { VolumeIds: ['vol-1'] });
  });

  it('finds the instances the watchdog stopped by their stopped-at tag, stopped or started again', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-1',
              InstanceType: 't3.large',
              State: { Name: 'stopped' },
              Tags: [
                { Key: TAGS.stoppedAt, Value: hoursAgo(3) },
                { Key: TAGS.stopReason, Value: 'idle: quiet' },
              ],
            },
          ],
        },
      ],
    });

    const stops = await new Ec2CostsAdapter(
      new EC2Client({ region: 'us-east-1' }),
      'us-east-1',
    ).watchdogStops();

    expect(stops).toEqual([
      expect.objectContaining({
        instanceId: 'i-1',
        state: 'stopped',
        stoppedAt: hoursAgo(3),
        stopReason: 'idle: quiet',
      }),
    ]);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'tag-key', Values: [TAGS.stoppedAt] },
        { Name: 'instance-state-name', Values: ['stopped', 'stopping', 'running', 'pending'] },
      ],
    });
  });
});
