import {
  AddTagsToResourceCommand,
  type DBCluster,
  type DBInstance,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeEventsCommand,
  RDSClient,
  RemoveTagsFromResourceCommand,
  StopDBClusterCommand,
  StopDBInstanceCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RdsClusters, RdsInstances } from '../../src/aws/rds.js';
import { TAGS } from '../../src/core/policy.js';

const rds = mockClient(RDSClient);
const client = () => new RDSClient({ region: 'eu-west-1' });
const dbArn = (id: string) => `arn:aws:rds:eu-west-1:123456789012:db:${id}`;
const clusterArn = (id: string) => `arn:aws:rds:eu-west-1:123456789012:cluster:${id}`;

function db(id: string, extra: Partial<DBInstance> = {}): DBInstance {
  return {
    DBInstanceIdentifier: id,
    DBInstanceArn: dbArn(id),
    DBInstanceClass: 'db.t3.micro',
    DBInstanceStatus: 'available',
    Engine: 'postgres',
    InstanceCreateTime: new Date('2026-11-20T08:00:00Z'),
    AllocatedStorage: 20,
    StorageType: 'gp2',
    MultiAZ: false,
    TagList: [{ Key: 'Owner', Value: 'bob' }],
    ...extra,
  };
}

function cluster(id: string, extra: Partial<DBCluster> = {}): DBCluster {
  return {
    DBClusterIdentifier: id,
    DBClusterArn: clusterArn(id),
    Status: 'available',
    Engine: 'aurora-postgresql',
    EngineMode: 'provisioned',
    ClusterCreateTime: new Date('2026-11-20T08:00:00Z'),
    AllocatedStorage: 1,
    MultiAZ: false,
    DBClusterMembers: [
      { DBInstanceIdentifier: `${id}-reader`, IsClusterWriter: false },
      { DBInstanceIdentifier: `${id}-writer`, IsClusterWriter: true },
    ],
    TagList: [],
    ...extra,
  };
}

function rdsError(name: string): Error {
  const err = new Error(name);
  err.name = name;
  return err;
}

describe('RdsInstances', () => {
  beforeEach(() => {
    rds.reset();
    rds.on(DescribeEventsCommand).resolves({ Events: [] });
  });

  it('lists available DB instances outside clusters, other services and stopped ones left out', async () => {
    // Prepare
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({
        DBInstances: [db('course-db'), db('stopped-db', { DBInstanceStatus: 'stopped' })],
        Marker: 'm2',
      })
      .resolvesOnce({
        DBInstances: [
          db('aurora-writer', { DBClusterIdentifier: 'aurora', Engine: 'aurora-postgresql' }),
          db('graph', { Engine: 'neptune' }),
          db('docs', { Engine: 'docdb' }),
        ],
      });

    // Act
    const found = await new RdsInstances(client(), 'eu-west-1', '123456789012').listRunning();

    // Assess
    expect(found).toEqual([
      {
        kind: 'rds-instance',
        instanceId: 'course-db',
        region: 'eu-west-1',
        account: '123456789012',
        instanceType: 'db.t3.micro',
        launchTime: '2026-11-20T08:00:00.000Z',
        tags: { Owner: 'bob' },
        rootDeviceType: 'ebs',
        arn: dbArn('course-db'),
        engine: 'postgres',
        storageGb: 20,
        storageType: 'gp2',
        multiAz: false,
      },
    ]);
    expect(rds).toHaveReceivedCommandWith(DescribeEventsCommand, {
      SourceType: 'db-instance',
      Duration: 14 * 24 * 60,
      EventCategories: ['notification'],
    });
  });

  it('counts the last start from the start events, and knows a start of AWS after 7 days stopped', async () => {
    // Prepare: the owner started course-db on the 24th; AWS started old-db on the 25th (0154, then 0088)
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [db('course-db'), db('old-db')] });
    rds.on(DescribeEventsCommand).resolves({
      Events: [
        {
          SourceIdentifier: 'course-db',
          Message: 'DB instance started',
          Date: new Date('2026-11-24T10:00:00Z'),
        },
        {
          SourceIdentifier: 'course-db',
          Message: 'DB instance stopped',
          Date: new Date('2026-11-24T18:00:00Z'),
        },
        {
          SourceIdentifier: 'old-db',
          Message: 'DB instance is being started due to it exceeding the maximum allowed time being stopped.',
          Date: new Date('2026-11-25T06:00:00Z'),
        },
        {
          SourceIdentifier: 'old-db',
          Message: 'DB instance started',
          Date: new Date('2026-11-25T06:09:00Z'),
        },
      ],
    });

    // Act
    const [course, old] = await new RdsInstances(client(), 'eu-west-1').listRunning();

    // Assess
    expect(course).toMatchObject({ launchTime: '2026-11-24T10:00:00.000Z' });
    expect(course?.restartedByAws).toBeUndefined();
    expect(old).toMatchObject({ launchTime: '2026-11-25T06:09:00.000Z', restartedByAws: true });
  });

  it('takes its own stopped-at tag as a lower bound of the last start (a stopped DB that runs again)', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        db('course-db', { TagList: [{ Key: TAGS.stoppedAt, Value: '2026-11-23T09:00:00.000Z' }] }),
      ],
    });

    const [found] = await new RdsInstances(client(), 'eu-west-1').listRunning();

    expect(found?.launchTime).toBe('2026-11-23T09:00:00.000Z');
  });

  it.each<[string, Partial<DBInstance>, string]>([
    [
      'a read replica',
      { ReadReplicaSourceDBInstanceIdentifier: 'course-db' },
      'read replica of course-db: RDS cannot stop a read replica',
    ],
    [
      'the source of read replicas',
      { ReadReplicaDBInstanceIdentifiers: ['replica-1'] },
      'source of read replica(s) replica-1: RDS cannot stop a DB instance that has read replicas',
    ],
    [
      'SQL Server Multi-AZ',
      { Engine: 'sqlserver-se', MultiAZ: true },
      'SQL Server Multi-AZ: RDS cannot stop it',
    ],
  ])('says why RDS refuses to stop %s', async (_case, extra, why) => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [db('x', extra)] });

    const [found] = await new RdsInstances(client(), 'eu-west-1').listRunning();

    expect(found?.cannotStop).toBe(why);
  });

  it('fails the listing when the start events cannot be read (its uptime would be a guess)', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [db('course-db')] });
    rds.on(DescribeEventsCommand).rejects(rdsError('AccessDenied'));

    await expect(new RdsInstances(client(), 'eu-west-1').listRunning()).rejects.toThrow('AccessDenied');
  });

  it('tags by ARN and stops without a snapshot; one stopped meanwhile is reported as such', async () => {
    // Prepare
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [db('a'), db('b')] });
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'b' }).resolves({
      DBInstances: [db('b', { DBInstanceStatus: 'stopped' })],
    });

    rds.on(AddTagsToResourceCommand).resolves({});
    rds.on(RemoveTagsFromResourceCommand).resolves({});
    rds
      .on(StopDBInstanceCommand, { DBInstanceIdentifier: 'a' })
      .resolves({ DBInstance: { DBInstanceStatus: 'stopping' } });
    rds
      .on(StopDBInstanceCommand, { DBInstanceIdentifier: 'b' })
      .rejects(rdsError('InvalidDBInstanceStateFault'));
    const adapter = new RdsInstances(client(), 'eu-west-1');
    await adapter.listRunning();

    // Act
    const tagged = await adapter.tag(['a'], { [TAGS.warnedAt]: '2026-11-25T14:00:00.000Z' });
    const untagged = await adapter.untag(['a'], [TAGS.warnedAt]);
    const stopped = await adapter.stop(['a', 'b']);

    // Assess
    expect(tagged).toEqual([{ instanceId: 'a', ok: true }]);
    expect(untagged).toEqual([{ instanceId: 'a', ok: true }]);
    expect(rds).toHaveReceivedCommandWith(AddTagsToResourceCommand, {
      ResourceName: dbArn('a'),
      Tags: [{ Key: TAGS.warnedAt, Value: '2026-11-25T14:00:00.000Z' }],
    });
    expect(rds).toHaveReceivedCommandWith(RemoveTagsFromResourceCommand, {
      ResourceName: dbArn('a'),
      TagKeys: [TAGS.warnedAt],
    });
    expect(stopped).toEqual([
      { instanceId: 'a', ok: true, state: 'stopping' },
      { instanceId: 'b', ok: true, state: 'stopped', previousState: 'stopped' },
    ]);
    expect(rds).toHaveReceivedCommandWith(StopDBInstanceCommand, { DBInstanceIdentifier: 'a' });
    for (const call of rds.commandCalls(StopDBInstanceCommand)) {
      expect(call.args[0].input).toEqual({ DBInstanceIdentifier: call.args[0].input.DBInstanceIdentifier });
    }
  });

  it('reports a failed stop of one database and stops the others', async () => {
    rds
      .on(StopDBInstanceCommand, { DBInstanceIdentifier: 'a' })
      .rejects(rdsError('InvalidParameterCombination'));
    rds
      .on(StopDBInstanceCommand, { DBInstanceIdentifier: 'b' })
      .resolves({ DBInstance: { DBInstanceStatus: 'stopping' } });

    const results = await new RdsInstances(client(), 'eu-west-1').stop(['a', 'b']);

    expect(results).toEqual([
      { instanceId: 'a', ok: false, error: 'InvalidParameterCombination' },
      { instanceId: 'b', ok: true, state: 'stopping' },
    ]);
  });

  it('answers null for a DB instance RDS does not know', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(rdsError('DBInstanceNotFoundFault'));

    expect(await new RdsInstances(client(), 'eu-west-1').getRunning('gone')).toBeNull();
  });
});

describe('RdsClusters', () => {
  beforeEach(() => {
    rds.reset();
    rds.on(DescribeEventsCommand).resolves({ Events: [] });
  });

  it("lists available clusters typed by their writer's class, Aurora storage left unpriced", async () => {
    // Prepare
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        cluster('aurora'),
        cluster('stopped', { Status: 'stopped' }),
        cluster('graph', { Engine: 'neptune' }),
      ],
    });
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        db('aurora-writer', { DBClusterIdentifier: 'aurora', DBInstanceClass: 'db.r6g.large' }),
        db('aurora-reader', { DBClusterIdentifier: 'aurora', DBInstanceClass: 'db.t4g.medium' }),
      ],
    });

    // Act
    const found = await new RdsClusters(client(), 'eu-west-1').listRunning();

    // Assess
    expect(found).toEqual([
      {
        kind: 'rds-cluster',
        instanceId: 'aurora',
        region: 'eu-west-1',
        instanceType: 'db.r6g.large',
        launchTime: '2026-11-20T08:00:00.000Z',
        tags: {},
        rootDeviceType: 'ebs',
        arn: clusterArn('aurora'),
        engine: 'aurora-postgresql',
        multiAz: false,
      },
    ]);
    expect(rds).toHaveReceivedCommandWith(DescribeEventsCommand, { SourceType: 'db-cluster' });
  });

  it.each<[string, Partial<DBCluster>, string]>([
    [
      'Aurora Serverless v1',
      { EngineMode: 'serverless' },
      'Aurora Serverless v1: it cannot be stopped (it pauses itself when idle)',
    ],
    [
      'a global database member',
      { GlobalClusterIdentifier: 'world' },
      'member of the Aurora global database world: RDS cannot stop it',
    ],
    [
      'a replica cluster',
      { ReplicationSourceIdentifier: 'arn:src' },
      'replica of arn:src: RDS cannot stop it',
    ],
  ])('says why RDS refuses to stop %s', async (_case, extra, why) => {
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster('c', extra)] });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });

    const [found] = await new RdsClusters(client(), 'eu-west-1').listRunning();

    expect(found?.cannotStop).toBe(why);
  });

  it('stops a cluster with StopDBCluster and tags it by its cluster ARN', async () => {
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster('aurora')] });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    rds.on(StopDBClusterCommand).resolves({ DBCluster: { Status: 'stopping' } });
    rds.on(AddTagsToResourceCommand).resolves({});
    const adapter = new RdsClusters(client(), 'eu-west-1');

    const stopped = await adapter.stop(['aurora']);
    const tagged = await adapter.tag(['aurora'], { [TAGS.stoppedBy]: 'sweep' });

    expect(stopped).toEqual([{ instanceId: 'aurora', ok: true, state: 'stopping' }]);
    expect(tagged).toEqual([{ instanceId: 'aurora', ok: true }]);
    expect(rds).toHaveReceivedCommandWith(StopDBClusterCommand, { DBClusterIdentifier: 'aurora' });
    expect(rds).toHaveReceivedCommandWith(AddTagsToResourceCommand, { ResourceName: clusterArn('aurora') });
  });
});
