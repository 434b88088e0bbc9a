/**
 * What stopped or unused resources still cost a month, per resource and per owner: the figures, their basis, and
 * where they show (the digest; the short section of `plan`).
 */
import { DescribeNatGatewaysCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  DescribeNotebookInstanceCommand,
  ListNotebookInstancesCommand,
  ListTagsCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2CostsAdapter } from '../../src/aws/ec2-costs.js';
import { RdsInstances } from '../../src/aws/rds.js';
import { SageMakerNotebooks } from '../../src/aws/sagemaker.js';
import { buildDigest, renderDigest } from '../../src/core/digest.js';
import type { Instance } from '../../src/core/instance.js';
import {
  type NatGatewayFact,
  renderStoppedCostsSummary,
  whatStoppedCosts,
} from '../../src/core/stopped-costs.js';
import { DEFAULT_POLICY, digestInput, NOW, policyWith } from '../support/fleet.js';

const DAY = 86_400_000;
const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY).toISOString();

const stoppedDb = (overrides: Partial<Instance> = {}): Instance => ({
  kind: 'rds-instance',
  instanceId: 'course-db',
  region: 'us-east-1',
  instanceType: 'db.t3.micro',
  launchTime: daysAgo(3),
  tags: { Owner: 'bob' },
  rootDeviceType: 'ebs',
  engine: 'postgres',
  storageGb: 100,
  storageType: 'gp2',
  multiAz: false,
  ...overrides,
});

const stoppedNotebook: Instance = {
  kind: 'sagemaker-notebook',
  instanceId: 'course-nb',
  region: 'us-east-1',
  instanceType: 'ml.t3.medium',
  launchTime: daysAgo(3),
  tags: { Owner: 'alice' },
  rootDeviceType: 'ebs',
  storageGb: 50,
};

describe('whatStoppedCosts', () => {
  it('prices every kind per resource, sums per owner, and says what each figure is based on', () => {
    // Act
    const c = whatStoppedCosts({
      now: NOW,
      policy: DEFAULT_POLICY,
      stoppedDisks: [
        {
          instanceId: 'i-1',
          region: 'us-east-1',
          tags: { Owner: 'alice' },
          volumes: [{ sizeGb: 30, volumeType: 'gp3' }],
        },
      ],
      addresses: [
        { publicIp: '198.51.100.7', region: 'us-east-1', associated: false },
        { publicIp: '198.51.100.8', region: 'us-east-1', associated: true, instanceId: 'i-running' },
      ],
      runningIds: new Set(['i-running']),
      snapshots: [
        {
          snapshotId: 'snap-old',
          region: 'us-east-1',
          sizeGb: 40,
          startTime: daysAgo(45),
          tags: { Owner: 'alice' },
        },
        { snapshotId: 'snap-new', region: 'us-east-1', sizeGb: 40, startTime: daysAgo(3), tags: {} },
      ],
      natGateways: [{ natGatewayId: 'nat-1', region: 'us-east-1', tags: { Owner: 'bob' } }],
      databases: [stoppedDb(), stoppedDb({ instanceId: 'multi', multiAz: true, storageGb: 20, tags: {} })],
      notebooks: [stoppedNotebook],
    });

    // Assess
    const byId = Object.fromEntries(c.items.map((i) => [i.id, [i.what, i.usdPerMonth, i.owner]]));
    expect(byId).toEqual({
      'i-1': ['stopped-instance-disks', 2.4, 'alice'],
      '198.51.100.7': ['idle-elastic-ip', 3.65, undefined],
      'snap-old': ['old-snapshot', 2, 'alice'],
      'nat-1': ['nat-gateway', 32.85, 'bob'],
      'course-db': ['stopped-database', 11.5, 'bob'],
      multi: ['stopped-database', 4.6, undefined],
      'course-nb': ['stopped-notebook', 7, 'alice'],
    });
    expect(c.byOwner).toEqual([
      { owner: 'bob', usdPerMonth: 44.35, count: 2 },
      { owner: 'alice', usdPerMonth: 11.4, count: 3 },
      { owner: '(no owner tag)', usdPerMonth: 8.25, count: 2 },
    ]);
    expect(c.totalUsdPerMonth).toBe(64);
    expect(c.basis.join('\n')).toMatch(/report only: cost-watchdog deletes none of these/);
    expect(c.items.find((i) => i.id === 'nat-1')?.detail).toBe('$0.045/h; data processed not measured');
    expect(c.basis.join('\n')).toMatch(
      /NAT gateway \$0\.045\/h x 730 h, plus \$0\.045\/GB processed: CloudWatch BytesInFromSource \+ BytesInFromDestination/,
    );
  });

  it('uses the policy age for snapshots and never prices Aurora storage it cannot see as $0', () => {
    const c = whatStoppedCosts({
      now: NOW,
      policy: policyWith({ digest: { oldSnapshotDays: 90 } }),
      snapshots: [
        { snapshotId: 'snap-45', region: 'us-east-1', sizeGb: 40, startTime: daysAgo(45), tags: {} },
      ],
      databases: [stoppedDb({ kind: 'rds-cluster', engine: 'aurora-mysql', storageGb: undefined as never })],
    });

    expect(c.items.map((i) => [i.id, i.usdPerMonth, i.detail])).toEqual([
      ['course-db', null, 'Aurora: storage billed per GB used, not measured here'],
    ]);
    expect(c.unpriced).toBe(1);
    expect(renderStoppedCostsSummary(c)).toContain('(1 without a price not included)');
  });

  it('a short summary for plan: per kind and per owner', () => {
    const c = whatStoppedCosts({
      now: NOW,
      policy: DEFAULT_POLICY,
      databases: [stoppedDb()],
      notebooks: [stoppedNotebook],
    });

    expect(renderStoppedCostsSummary(c).split('\n').slice(0, 4)).toEqual([
      'What stopped or unused resources still cost (estimates): about $18.50/month',
      '  storage of stopped RDS databases (1): $11.50/month',
      '  volumes of stopped SageMaker notebooks (1): $7.00/month',
      '  per owner: bob $11.50, alice $7.00',
    ]);
  });
});

describe('a NAT gateway: hourly price plus the data it processed, as a monthly estimate', () => {
  const GIB = 1024 ** 3;
  const window = { from: daysAgo(7), to: NOW.toISOString() };
  const nat = (over: Partial<NatGatewayFact>): NatGatewayFact => ({
    natGatewayId: 'nat-1',
    region: 'us-east-1',
    tags: { Owner: 'bob' },
    createTime: daysAgo(30),
    ...over,
  });

  // Hourly: 0.045 x 730 = 32.85. Data: GB / days measured x 30.4 x 0.045.
  it.each([
    {
      case: 'measured over the whole window: 14 GB in 7 days = 2 GB/day x 30.4 x 0.045 = 2.736',
      gateway: nat({ processed: { ...window, bytes: 14 * GIB, datapoints: 336 } }),
      usd: 35.59,
      detail: '$0.045/h + 14.0 GB processed in the last 7 days (~$2.74/month at $0.045/GB)',
    },
    {
      case: 'younger than the window: 3 GB in the 2 days since it was created = 1.5 GB/day -> 2.052',
      gateway: nat({
        createTime: daysAgo(2),
        processed: { ...window, bytes: 3 * GIB, datapoints: 96, firstDatapointAt: daysAgo(2) },
      }),
      usd: 34.9,
      detail: '$0.045/h + 3.0 GB processed in the 2 days since it was created (~$2.05/month at $0.045/GB)',
    },
    {
      case: 'no creation time: measured since the first datapoint, 0.5 GB in 12 hours = 1 GB/day -> 1.368',
      gateway: nat({
        createTime: undefined as never,
        processed: { ...window, bytes: 0.5 * GIB, datapoints: 12, firstDatapointAt: daysAgo(0.5) },
      }),
      usd: 34.22,
      detail:
        '$0.045/h + 0.50 GB processed in the 12 hours since its first datapoint (~$1.37/month at $0.045/GB)',
    },
    {
      case: 'no datapoints: nothing is extrapolated, the hourly price only',
      gateway: nat({ processed: { ...window, bytes: 0, datapoints: 0 } }),
      usd: 32.85,
      detail: '$0.045/h; no data processed in the last 7 days (CloudWatch returned no datapoints)',
    },
    {
      case: 'CloudWatch could not be read: the hourly price, and why',
      gateway: nat({ processedError: 'AccessDenied: not authorized to perform cloudwatch:GetMetricData' }),
      usd: 32.85,
      detail:
        '$0.045/h; data processed not measured (AccessDenied: not authorized to perform cloudwatch:GetMet...)',
    },
  ])('$case', ({ gateway, usd, detail }) => {
    // Act
    const c = whatStoppedCosts({ now: NOW, policy: DEFAULT_POLICY, natGateways: [gateway] });

    // Assess
    expect(c.items).toEqual([
      { what: 'nat-gateway', id: 'nat-1', region: 'us-east-1', owner: 'bob', detail, usdPerMonth: usd },
    ]);
    expect(c.totalUsdPerMonth).toBe(usd);
  });
});

describe('the digest shows what stopped still costs', () => {
  it('lists old snapshots, NAT gateways, stopped databases and notebooks, per owner, and counts them in the leaks', () => {
    // Prepare
    const base = digestInput({ policy: DEFAULT_POLICY });

    // Act
    const without = buildDigest(base);
    const digest = buildDigest({
      ...base,
      stoppedCosts: {
        snapshots: [],
        natGateways: [
          { natGatewayId: 'nat-1', region: 'us-east-1', tags: { Owner: 'bob' } },
          {
            natGatewayId: 'nat-2',
            region: 'us-east-1',
            tags: {},
            processed: { from: daysAgo(7), to: NOW.toISOString(), bytes: 14 * 1024 ** 3, datapoints: 336 },
          },
        ],
        databases: [stoppedDb()],
        notebooks: [stoppedNotebook],
      },
    });
    const text = renderDigest(digest).text;

    // Assess
    expect(digest.leaks.totalUsdPerMonth.usd - without.leaks.totalUsdPerMonth.usd).toBeCloseTo(
      32.85 + 35.59 + 11.5 + 7,
      2,
    );
    expect(text).toMatch(/NAT gateways \(2\), \$68\.44\/month:/);
    expect(text).toMatch(
      /nat-2\s+us-east-1\s+\$0\.045\/h \+ 14\.0 GB processed in the last 7 days \(~\$2\.74\/month at \$0\.045\/GB\)\s+35\.59/,
    );
    expect(text).toMatch(/course-db\s+bob\s+us-east-1\s+100 GB gp2\s+11\.50/);
    expect(text).toMatch(/Volumes of stopped SageMaker notebooks \(1\), \$7\.00\/month:/);
    expect(text).toMatch(/bob\s+2\s+44\.35/);
    expect(text).toContain('report only: cost-watchdog deletes none of these');
  });
});

describe('reading what stopped still costs', () => {
  const ec2 = mockClient(EC2Client);
  const rds = mockClient(RDSClient);
  const sagemaker = mockClient(SageMakerClient);
  beforeEach(() => {
    ec2.reset();
    rds.reset();
    sagemaker.reset();
  });

  it('reads this account snapshots older than the cut-off and the NAT gateways that exist', async () => {
    ec2.on(DescribeSnapshotsCommand).resolves({
      Snapshots: [
        {
          SnapshotId: 'snap-old',
          VolumeSize: 8,
          StartTime: new Date(daysAgo(40)),
          Tags: [{ Key: 'Owner', Value: 'alice' }],
        },
        { SnapshotId: 'snap-new', VolumeSize: 8, StartTime: new Date(daysAgo(1)) },
      ],
    });
    ec2.on(DescribeNatGatewaysCommand).resolves({
      NatGateways: [{ NatGatewayId: 'nat-1', State: 'available', CreateTime: new Date(daysAgo(2)) }],
    });
    const adapter = new Ec2CostsAdapter(new EC2Client({ region: 'us-east-1' }), 'us-east-1');

    const snapshots = await adapter.snapshotsBefore(new Date(daysAgo(30)));
    const nats = await adapter.natGateways();

    expect(snapshots).toEqual([
      {
        snapshotId: 'snap-old',
        region: 'us-east-1',
        sizeGb: 8,
        startTime: daysAgo(40),
        tags: { Owner: 'alice' },
      },
    ]);
    expect(ec2).toHaveReceivedCommandWith(DescribeSnapshotsCommand, { OwnerIds: ['self'] });
    expect(nats).toEqual([{ natGatewayId: 'nat-1', region: 'us-east-1', tags: {}, createTime: daysAgo(2) }]);
    expect(ec2).toHaveReceivedCommandWith(DescribeNatGatewaysCommand, {
      Filter: [{ Name: 'state', Values: ['available', 'pending'] }],
    });
  });

  it('lists stopped databases and notebooks with their storage', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'a',
          DBInstanceArn: 'arn:a',
          DBInstanceClass: 'db.t3.micro',
          DBInstanceStatus: 'stopped',
          AllocatedStorage: 20,
          StorageType: 'gp3',
        },
        {
          DBInstanceIdentifier: 'b',
          DBInstanceArn: 'arn:b',
          DBInstanceClass: 'db.t3.micro',
          DBInstanceStatus: 'available',
        },
      ],
    });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
    sagemaker.on(ListNotebookInstancesCommand).resolves({
      NotebookInstances: [
        { NotebookInstanceName: 'nb', NotebookInstanceArn: 'arn:nb', NotebookInstanceStatus: 'Stopped' },
      ],
    } as never);
    sagemaker.on(DescribeNotebookInstanceCommand).resolves({
      NotebookInstanceName: 'nb',
      NotebookInstanceArn: 'arn:nb',
      NotebookInstanceStatus: 'Stopped',
      InstanceType: 'ml.t3.medium',
      VolumeSizeInGB: 50,
    } as never);
    sagemaker.on(ListTagsCommand).resolves({ Tags: [] });

    const dbs = await new RdsInstances(new RDSClient({ region: 'us-east-1' }), 'us-east-1').listStopped();
    const nbs = await new SageMakerNotebooks(
      new SageMakerClient({ region: 'us-east-1' }),
      'us-east-1',
    ).listStopped();

    expect(dbs.map((d) => [d.instanceId, d.storageGb, d.storageType])).toEqual([['a', 20, 'gp3']]);
    expect(nbs.map((n) => [n.instanceId, n.storageGb])).toEqual([['nb', 50]]);
    expect(sagemaker).toHaveReceivedCommandWith(ListNotebookInstancesCommand, { StatusEquals: 'Stopped' });
  });
});
