import {
  AddTagsToResourceCommand,
  type DBCluster,
  type DBInstance,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  paginateDescribeDBClusters,
  paginateDescribeDBInstances,
  paginateDescribeEvents,
  type RDSClient,
  RemoveTagsFromResourceCommand,
  StopDBClusterCommand,
  StopDBInstanceCommand,
} from '@aws-sdk/client-rds';
import type { Instance, InstanceTypeInfo } from '../core/instance.js';
import { runningSince } from '../core/kinds.js';
import { TAGS } from '../core/names.js';
import { cleanTags } from '../core/text.js';
import { ArnTaggedFleet } from './arn-tagged-fleet.js';

/** IAM actions the RDS adapters use; the sweep's role grants exactly these (checked by a template test). */
export const RDS_SWEEP_PERMISSIONS = [
  'rds:DescribeDBInstances',
  'rds:DescribeDBClusters',
  'rds:DescribeEvents',
  'rds:AddTagsToResource',
  'rds:RemoveTagsFromResource',
  'rds:StopDBInstance',
  'rds:StopDBCluster',
] as const;

/** What reading stopped databases needs (the digest: what their storage still costs). */
export const RDS_READ_PERMISSIONS = ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'] as const;

/** Engines that share the RDS API but are other services (own prices, own consoles): not watched here. */
const OTHER_SERVICES = /^(neptune|docdb)/;

/** How far back RDS keeps events (14 days): the window the last start is looked up in. */
const EVENT_MINUTES = 14 * 24 * 60;

/** The last start RDS reported for a source, and whether it was AWS restarting it after 7 days stopped. */
interface StartEvent {
  at: Date;
  byAws: boolean;
}

/** How long after AWS's own "being started" event its "started" event may follow and still be that start. */
const AWS_START_SLACK_MS = 2 * 3_600_000;

/**
 * The latest start event per source id of `sourceType` in the last 14 days: RDS-EVENT-0088 / 0151 ("started")
 * and RDS-EVENT-0154 / 0153 ("being started due to it exceeding the maximum allowed time being stopped"). A start
 * is AWS's own when such an event is the latest, or precedes the latest "started" by at most two hours.
 */
async function lastStarts(
  client: RDSClient,
  sourceType: 'db-instance' | 'db-cluster',
): Promise<Map<string, StartEvent>> {
  const started = new Map<string, number>();
  const byAws = new Map<string, number>();
  const later = (m: Map<string, number>, id: string, ms: number) => {
    if (ms > (m.get(id) ?? Number.NEGATIVE_INFINITY)) m.set(id, ms);
  };
  for await (const page of paginateDescribeEvents(
    { client, pageSize: 100 },
    { SourceType: sourceType, Duration: EVENT_MINUTES, EventCategories: ['notification'] },
  )) {
    for (const e of page.Events ?? []) {
      if (!e.SourceIdentifier || !(e.Date instanceof Date) || !e.Message) continue;
      if (/exceed\w* the maximum (allowed )?time/i.test(e.Message))
        later(byAws, e.SourceIdentifier, e.Date.getTime());
      else if (/\bstarted\b/i.test(e.Message)) later(started, e.SourceIdentifier, e.Date.getTime());
    }
  }
  const out = new Map<string, StartEvent>();
  for (const id of new Set([...started.keys(), ...byAws.keys()])) {
    const s = started.get(id) ?? Number.NEGATIVE_INFINITY;
    const a = byAws.get(id) ?? Number.NEGATIVE_INFINITY;
    out.set(id, { at: new Date(Math.max(s, a)), byAws: Number.isFinite(a) && s - a <= AWS_START_SLACK_MS });
  }
  return out;
}

/** The error name RDS answers a stop with when the resource is not `available`. */
function isWrongState(err: unknown): boolean {
  return /^Invalid(DBInstance|DBCluster)State/.test((err as { name?: string })?.name ?? '');
}

function isNotFound(err: unknown): boolean {
  return /^DB(Instance|Cluster)NotFound/.test((err as { name?: string })?.name ?? '');
}

/** What the instance and cluster adapters share besides ArnTaggedFleet: the RDS client, its tag calls and errors. */
abstract class RdsFleet extends ArnTaggedFleet {
  protected readonly runningState = 'available';

  constructor(
    protected readonly client: RDSClient,
    region: string,
    account?: string,
  ) {
    super(region, account);
  }

  /** Type facts: nothing RDS can tell beyond the class (free tier comes from the policy: kindTypeInfo()). */
  async describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>> {
    return new Map([...new Set(types)].map((t) => [t, { gpu: false }]));
  }

  protected async tagArn(arn: string, tags: { Key: string; Value: string }[]): Promise<void> {
    await this.client.send(new AddTagsToResourceCommand({ ResourceName: arn, Tags: tags }));
  }

  protected async untagArn(arn: string, keys: string[]): Promise<void> {
    await this.client.send(new RemoveTagsFromResourceCommand({ ResourceName: arn, TagKeys: keys }));
  }

  /** RDS refuses to stop what is not `available` with Invalid(DBInstance|DBCluster)State: look again. */
  protected mayBeStoppedAlready(err: unknown): boolean {
    return isWrongState(err);
  }
}

/**
 * RDS DB instances for the sweep, one region: the `available` ones that are not members of a cluster (those are
 * stopped through their cluster: RdsClusters), with what RDS refuses to stop named (`cannotStop`).
 */
export class RdsInstances extends RdsFleet {
  readonly kind = 'rds-instance' as const;
  protected readonly noun = 'DB instance';

  /** Every stopped DB instance outside a cluster (what it still costs: its storage). */
  async listStopped(): Promise<Instance[]> {
    const out: Instance[] = [];
    for await (const page of paginateDescribeDBInstances({ client: this.client, pageSize: 100 }, {})) {
      for (const d of page.DBInstances ?? []) {
        if (d.DBInstanceStatus !== 'stopped' || d.DBClusterIdentifier || OTHER_SERVICES.test(d.Engine ?? ''))
          continue;
        const i = this.toInstance(d, new Map());
        if (i) out.push(i);
      }
    }
    return out;
  }

  /** Every available DB instance outside a cluster (DescribeDBInstances), with its last start from RDS events. */
  async listRunning(): Promise<Instance[]> {
    const raws: DBInstance[] = [];
    for await (const page of paginateDescribeDBInstances({ client: this.client, pageSize: 100 }, {})) {
      for (const d of page.DBInstances ?? []) {
        if (
          d.DBInstanceStatus === 'available' &&
          !d.DBClusterIdentifier &&
          !OTHER_SERVICES.test(d.Engine ?? '')
        )
          raws.push(d);
      }
    }
    if (raws.length === 0) return [];
    const starts = await lastStarts(this.client, 'db-instance');
    return raws.map((d) => this.toInstance(d, starts)).filter((i): i is Instance => i !== null);
  }

  protected async describeRaw(instanceId: string): Promise<{ instance: Instance; state: string } | null> {
    const res = await this.client
      .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }))
      .catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
    const raw = res?.DBInstances?.[0];
    if (!raw || raw.DBClusterIdentifier) return null;
    const starts = await lastStarts(this.client, 'db-instance');
    const instance = this.toInstance(raw, starts);
    return instance ? { instance, state: raw.DBInstanceStatus ?? 'unknown' } : null;
  }

  protected async stopOne(id: string): Promise<string | undefined> {
    const res = await this.client.send(new StopDBInstanceCommand({ DBInstanceIdentifier: id }));
    return res.DBInstance?.DBInstanceStatus;
  }

  private toInstance(d: DBInstance, starts: Map<string, StartEvent>): Instance | null {
    if (!d.DBInstanceIdentifier || !d.DBInstanceClass || !d.DBInstanceArn) return null;
    this.arns.set(d.DBInstanceIdentifier, d.DBInstanceArn);
    const tags = cleanTags(d.TagList ?? []);
    const start = starts.get(d.DBInstanceIdentifier);
    const launchTime = runningSince([d.InstanceCreateTime, start?.at], tags[TAGS.stoppedAt]);
    const cannotStop = instanceCannotStop(d);
    return {
      kind: 'rds-instance',
      instanceId: d.DBInstanceIdentifier,
      region: this.region,
      ...(this.account ? { account: this.account } : {}),
      instanceType: d.DBInstanceClass,
      launchTime,
      tags,
      rootDeviceType: 'ebs',
      arn: d.DBInstanceArn,
      ...(d.Engine ? { engine: d.Engine } : {}),
      ...(d.AllocatedStorage !== undefined ? { storageGb: d.AllocatedStorage } : {}),
      ...(d.StorageType ? { storageType: d.StorageType } : {}),
      ...(d.MultiAZ !== undefined ? { multiAz: d.MultiAZ } : {}),
      ...(cannotStop ? { cannotStop } : {}),
      ...(start?.byAws && start.at.toISOString() === launchTime ? { restartedByAws: true } : {}),
    };
  }
}

/** Why RDS refuses StopDBInstance for this instance (USER_StopInstance limitations), or null. */
function instanceCannotStop(d: DBInstance): string | null {
  if (d.ReadReplicaSourceDBInstanceIdentifier || d.ReadReplicaSourceDBClusterIdentifier) {
    const source = d.ReadReplicaSourceDBInstanceIdentifier ?? d.ReadReplicaSourceDBClusterIdentifier;
    return `read replica of ${source}: RDS cannot stop a read replica`;
  }
  const replicas = [
    ...(d.ReadReplicaDBInstanceIdentifiers ?? []),
    ...(d.ReadReplicaDBClusterIdentifiers ?? []),
  ];
  if (replicas.length > 0) {
    return `source of read replica(s) ${replicas.join(', ')}: RDS cannot stop a DB instance that has read replicas`;
  }
  if (d.MultiAZ === true && d.Engine?.startsWith('sqlserver')) {
    return 'SQL Server Multi-AZ: RDS cannot stop it';
  }
  return null;
}

/**
 * Aurora and Multi-AZ DB clusters for the sweep, one region: the `available` ones, typed by their writer's class,
 * with what RDS refuses to stop named (Aurora Serverless v1, replica clusters, global database members).
 */
export class RdsClusters extends RdsFleet {
  readonly kind = 'rds-cluster' as const;
  protected readonly noun = 'DB cluster';

  /** Every stopped DB cluster (what it still costs: its storage). */
  async listStopped(): Promise<Instance[]> {
    const raws: DBCluster[] = [];
    for await (const page of paginateDescribeDBClusters({ client: this.client, pageSize: 100 }, {})) {
      for (const c of page.DBClusters ?? []) {
        if (c.Status === 'stopped' && !OTHER_SERVICES.test(c.Engine ?? '')) raws.push(c);
      }
    }
    return raws.map((c) => this.toInstance(c, new Map(), new Map())).filter((i): i is Instance => i !== null);
  }

  /** Every available DB cluster (DescribeDBClusters), with its writer's class and its last start. */
  async listRunning(): Promise<Instance[]> {
    const raws: DBCluster[] = [];
    for await (const page of paginateDescribeDBClusters({ client: this.client, pageSize: 100 }, {})) {
      for (const c of page.DBClusters ?? []) {
        if (c.Status === 'available' && !OTHER_SERVICES.test(c.Engine ?? '')) raws.push(c);
      }
    }
    if (raws.length === 0) return [];
    const [classes, starts] = await Promise.all([
      this.memberClasses(),
      lastStarts(this.client, 'db-cluster'),
    ]);
    return raws.map((c) => this.toInstance(c, classes, starts)).filter((i): i is Instance => i !== null);
  }

  protected async describeRaw(instanceId: string): Promise<{ instance: Instance; state: string } | null> {
    const res = await this.client
      .send(new DescribeDBClustersCommand({ DBClusterIdentifier: instanceId }))
      .catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
    const raw = res?.DBClusters?.[0];
    if (!raw) return null;
    const [classes, starts] = await Promise.all([
      this.memberClasses(),
      lastStarts(this.client, 'db-cluster'),
    ]);
    const instance = this.toInstance(raw, classes, starts);
    return instance ? { instance, state: raw.Status ?? 'unknown' } : null;
  }

  protected async stopOne(id: string): Promise<string | undefined> {
    const res = await this.client.send(new StopDBClusterCommand({ DBClusterIdentifier: id }));
    return res.DBCluster?.Status;
  }

  /** The class of every DB instance in the region, by identifier (a cluster is typed by its writer). */
  private async memberClasses(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const page of paginateDescribeDBInstances({ client: this.client, pageSize: 100 }, {})) {
      for (const d of page.DBInstances ?? []) {
        if (d.DBInstanceIdentifier && d.DBInstanceClass && d.DBClusterIdentifier)
          out.set(d.DBInstanceIdentifier, d.DBInstanceClass);
      }
    }
    return out;
  }

  private toInstance(
    c: DBCluster,
    classes: Map<string, string>,
    starts: Map<string, StartEvent>,
  ): Instance | null {
    if (!c.DBClusterIdentifier || !c.DBClusterArn) return null;
    this.arns.set(c.DBClusterIdentifier, c.DBClusterArn);
    const members = c.DBClusterMembers ?? [];
    const writer = members.find((m) => m.IsClusterWriter) ?? members[0];
    const type =
      c.DBClusterInstanceClass ??
      (writer?.DBInstanceIdentifier ? classes.get(writer.DBInstanceIdentifier) : undefined) ??
      (c.EngineMode === 'serverless' ? 'aurora-serverless-v1' : 'unknown');
    const tags = cleanTags(c.TagList ?? []);
    const start = starts.get(c.DBClusterIdentifier);
    const launchTime = runningSince([c.ClusterCreateTime, start?.at], tags[TAGS.stoppedAt]);
    const aurora = c.Engine?.startsWith('aurora') === true;
    const cannotStop = clusterCannotStop(c);
    return {
      kind: 'rds-cluster',
      instanceId: c.DBClusterIdentifier,
      region: this.region,
      ...(this.account ? { account: this.account } : {}),
      instanceType: type,
      launchTime,
      tags,
      rootDeviceType: 'ebs',
      arn: c.DBClusterArn,
      ...(c.Engine ? { engine: c.Engine } : {}),
      // Aurora bills the storage it uses (VolumeBytesUsed), not an allocation; Multi-AZ DB clusters allocate.
      ...(!aurora && c.AllocatedStorage !== undefined ? { storageGb: c.AllocatedStorage } : {}),
      ...(c.StorageType ? { storageType: c.StorageType } : {}),
      ...(c.MultiAZ !== undefined ? { multiAz: c.MultiAZ } : {}),
      ...(cannotStop ? { cannotStop } : {}),
      ...(start?.byAws && start.at.toISOString() === launchTime ? { restartedByAws: true } : {}),
    };
  }
}

/** Why RDS refuses StopDBCluster for this cluster (Aurora stop/start limitations), or null. */
function clusterCannotStop(c: DBCluster): string | null {
  if (c.EngineMode === 'serverless')
    return 'Aurora Serverless v1: it cannot be stopped (it pauses itself when idle)';
  if (c.EngineMode === 'multimaster') return 'Aurora multi-master: RDS cannot stop it';
  if (c.GlobalClusterIdentifier) {
    return `member of the Aurora global database ${c.GlobalClusterIdentifier}: RDS cannot stop it`;
  }
  if (c.ReplicationSourceIdentifier) return `replica of ${c.ReplicationSourceIdentifier}: RDS cannot stop it`;
  if ((c.ReadReplicaIdentifiers ?? []).length > 0) {
    return `source of read replica(s) ${(c.ReadReplicaIdentifiers ?? []).join(', ')}: RDS cannot stop it`;
  }
  return null;
}
