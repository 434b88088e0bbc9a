/**
 * Seeding and reading back SageMaker notebook instances and RDS databases in the emulator, and writing the
 * CloudWatch datapoints RDS would publish (moto publishes none). Only ever talks to the local moto server.
 */
import { CloudWatchClient, type MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  AddTagsToResourceCommand,
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  CreateDBInstanceReadReplicaCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  AddTagsCommand,
  CreateNotebookInstanceCommand,
  DescribeNotebookInstanceCommand,
  ListTagsCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { clientConfig } from '../../src/aws/clients.js';
import { METRIC_STEP_MS, target } from './support.js';

const tagList = (tags: Record<string, string>) =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const tagRecord = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

/** Creates an InService notebook instance (moto: InService at once); returns when SageMaker says it started. */
export async function createNotebook(
  region: string,
  name: string,
  options: { type?: string; tags?: Record<string, string> } = {},
): Promise<Date> {
  const sm = new SageMakerClient(clientConfig(target(region)));
  await sm.send(
    new CreateNotebookInstanceCommand({
      NotebookInstanceName: name,
      InstanceType: (options.type ?? 'ml.t3.medium') as never,
      RoleArn: 'arn:aws:iam::123456789012:role/notebook-role',
      VolumeSizeInGB: 10,
      ...(options.tags ? { Tags: tagList(options.tags) } : {}),
    }),
  );
  const d = await sm.send(new DescribeNotebookInstanceCommand({ NotebookInstanceName: name }));
  if (!(d.LastModifiedTime instanceof Date)) throw new Error(`no LastModifiedTime for notebook ${name}`);
  return d.LastModifiedTime;
}

/** Sets tags on a notebook, as its lifecycle script (last activity) or the admin (exempt) would. */
export async function tagNotebook(region: string, name: string, tags: Record<string, string>): Promise<void> {
  const sm = new SageMakerClient(clientConfig(target(region)));
  const d = await sm.send(new DescribeNotebookInstanceCommand({ NotebookInstanceName: name }));
  await sm.send(new AddTagsCommand({ ResourceArn: d.NotebookInstanceArn, Tags: tagList(tags) }));
}

/** A notebook's status and tags as SageMaker reports them now. */
export async function notebookState(
  region: string,
  name: string,
): Promise<{ status: string | undefined; tags: Record<string, string> }> {
  const sm = new SageMakerClient(clientConfig(target(region)));
  const d = await sm.send(new DescribeNotebookInstanceCommand({ NotebookInstanceName: name }));
  const tags = await sm.send(new ListTagsCommand({ ResourceArn: d.NotebookInstanceArn }));
  return { status: d.NotebookInstanceStatus, tags: tagRecord(tags.Tags) };
}

/** Creates an available RDS DB instance; returns its InstanceCreateTime. */
export async function createDatabase(
  region: string,
  id: string,
  options: { dbClass?: string; tags?: Record<string, string>; engine?: string } = {},
): Promise<Date> {
  const rds = new RDSClient(clientConfig(target(region)));
  const res = await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: id,
      DBInstanceClass: options.dbClass ?? 'db.t3.micro',
      Engine: options.engine ?? 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'course',
      MasterUserPassword: 'not-a-secret-1',
      ...(options.tags ? { Tags: tagList(options.tags) } : {}),
    }),
  );
  const created = res.DBInstance?.InstanceCreateTime;
  if (!(created instanceof Date)) throw new Error(`no InstanceCreateTime for ${id}`);
  return created;
}

/** Creates a read replica of `source` (RDS refuses to stop either). */
export async function createReadReplica(region: string, id: string, source: string): Promise<void> {
  const rds = new RDSClient(clientConfig(target(region)));
  await rds.send(
    new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: id, SourceDBInstanceIdentifier: source }),
  );
}

/** Creates an available Aurora PostgreSQL cluster with one writer; returns its ClusterCreateTime. */
export async function createAuroraCluster(
  region: string,
  id: string,
  tags: Record<string, string> = {},
): Promise<Date> {
  const rds = new RDSClient(clientConfig(target(region)));
  const res = await rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: id,
      Engine: 'aurora-postgresql',
      MasterUsername: 'course',
      MasterUserPassword: 'not-a-secret-1',
      Tags: tagList(tags),
    }),
  );
  await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: `${id}-writer`,
      DBInstanceClass: 'db.r6g.large',
      Engine: 'aurora-postgresql',
      DBClusterIdentifier: id,
    }),
  );
  const created = res.DBCluster?.ClusterCreateTime;
  if (!(created instanceof Date)) throw new Error(`no ClusterCreateTime for ${id}`);
  return created;
}

/** Sets tags on a DB instance or cluster by identifier. */
export async function tagDatabase(
  region: string,
  id: string,
  tags: Record<string, string>,
  cluster = false,
): Promise<void> {
  const rds = new RDSClient(clientConfig(target(region)));
  const arn = cluster
    ? (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters?.[0]
        ?.DBClusterArn
    : (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0]
        ?.DBInstanceArn;
  await rds.send(new AddTagsToResourceCommand({ ResourceName: arn, Tags: tagList(tags) }));
}

/** A DB instance's (or cluster's) status and tags as RDS reports them now. */
export async function databaseState(
  region: string,
  id: string,
  cluster = false,
): Promise<{ status: string | undefined; tags: Record<string, string> }> {
  const rds = new RDSClient(clientConfig(target(region)));
  if (cluster) {
    const c = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters?.[0];
    return { status: c?.Status, tags: tagRecord(c?.TagList) };
  }
  const d = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
  return { status: d?.DBInstanceStatus, tags: tagRecord(d?.TagList) };
}

/** What a database did per 5 minutes: its most connections at once and its CPU %. */
export interface DatabaseLoad {
  connections: number;
  cpu: number;
}

/** Nobody connected, the engine's own background work only. */
export const UNUSED_DB: DatabaseLoad = { connections: 0, cpu: 1.5 };
/** A class working on it. */
export const USED_DB: DatabaseLoad = { connections: 4, cpu: 25 };

/**
 * Writes the AWS/RDS datapoints of a DB instance (or cluster) every 5 minutes from `from` (rounded down) to `to`:
 * DatabaseConnections and CPUUtilization, as RDS publishes them.
 */
export async function putDatabaseMetrics(
  region: string,
  id: string,
  load: DatabaseLoad,
  from: Date,
  to: Date,
  cluster = false,
): Promise<void> {
  const cw = new CloudWatchClient(clientConfig(target(region)));
  const dimension = { Name: cluster ? 'DBClusterIdentifier' : 'DBInstanceIdentifier', Value: id };
  const datums: MetricDatum[] = [];
  const start = Math.floor(from.getTime() / METRIC_STEP_MS) * METRIC_STEP_MS;
  for (let t = start; t <= to.getTime(); t += METRIC_STEP_MS) {
    const at = new Date(t);
    datums.push(
      {
        MetricName: 'DatabaseConnections',
        Dimensions: [dimension],
        Timestamp: at,
        Value: load.connections,
        Unit: 'Count',
      },
      {
        MetricName: 'CPUUtilization',
        Dimensions: [dimension],
        Timestamp: at,
        Value: load.cpu,
        Unit: 'Percent',
      },
    );
  }
  for (let i = 0; i < datums.length; i += 1000) {
    await cw.send(new PutMetricDataCommand({ Namespace: 'AWS/RDS', MetricData: datums.slice(i, i + 1000) }));
  }
}
