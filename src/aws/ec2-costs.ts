import {
  DescribeAddressesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  paginateDescribeInstances,
  paginateDescribeNatGateways,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import type { DigestStop } from '../core/digest.js';
import type { NatGatewayFact, SnapshotFact } from '../core/stopped-costs.js';
import type { SecurityGroupRules } from '../core/launch-check.js';
import { TAGS } from '../core/names.js';
import { cleanLine, cleanTags } from '../core/text.js';
import { chunk } from './clients.js';

/** IAM actions this adapter uses (all read-only). */
export const EC2_COSTS_PERMISSIONS = [
  'ec2:DescribeVolumes',
  'ec2:DescribeAddresses',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeInstances',
  'ec2:DescribeSnapshots',
  'ec2:DescribeNatGateways',
] as const;

/** An EBS volume attached to nothing (state `available`): it is billed every month all the same. */
export interface UnattachedVolume {
  volumeId: string;
  region: string;
  sizeGb: number;
  volumeType: string;
  createTime?: string;
  name?: string;
}

/** An Elastic IP address. `associated` = attached to an instance or network interface. */
export interface ElasticAddress {
  publicIp: string;
  allocationId?: string;
  region: string;
  associated: boolean;
  instanceId?: string;
}

/** An EBS volume of a stopped instance: billed every month while the instance is stopped. */
export interface StoppedInstanceDisks {
  instanceId: string;
  region: string;
  instanceType: string;
  tags: Record<string, string>;
  volumes: { volumeId: string; sizeGb: number; volumeType: string }[];
}

/** An instance that carries the watchdog's stopped-at tag: stopped now, or started again since. */
export type WatchdogStop = DigestStop;

/** EC2 reads for the digest and the launch guard: volumes, addresses, security groups, past stops. One region. */
export class Ec2CostsAdapter {
  constructor(
    private readonly client: EC2Client,
    readonly region: string,
  ) {}

  /** EBS volumes in state `available` (attached to nothing). */
  async unattachedVolumes(): Promise<UnattachedVolume[]> {
    const out: UnattachedVolume[] = [];
    const pages = paginateDescribeVolumes(
      { client: this.client, pageSize: 500 },
      { Filters: [{ Name: 'status', Values: ['available'] }] },
    );
    for await (const page of pages) {
      for (const v of page.Volumes ?? []) {
        if (!v.VolumeId || (v.State !== undefined && v.State !== 'available')) continue;
        const name = cleanTags(v.Tags ?? []).Name;
        out.push({
          volumeId: v.VolumeId,
          region: this.region,
          sizeGb: v.Size ?? 0,
          volumeType: v.VolumeType ?? 'standard',
          ...(v.CreateTime ? { createTime: new Date(v.CreateTime).toISOString() } : {}),
          ...(name ? { name } : {}),
        });
      }
    }
    return out;
  }

  /** Every Elastic IP of the account in this region, attached or not. */
  async elasticAddresses(): Promise<ElasticAddress[]> {
    const res = await this.client.send(new DescribeAddressesCommand({}));
    return (res.Addresses ?? [])
      .filter((a) => a.PublicIp)
      .map((a) => ({
        publicIp: a.PublicIp as string,
        ...(a.AllocationId ? { allocationId: a.AllocationId } : {}),
        region: this.region,
        associated: a.AssociationId !== undefined && a.AssociationId !== '',
        ...(a.InstanceId ? { instanceId: a.InstanceId } : {}),
      }));
  }

  /** Inbound rules of the given security groups, in the plain shape launch-check reads. */
  async securityGroupRules(groupIds: string[]): Promise<SecurityGroupRules[]> {
    const out: SecurityGroupRules[] = [];
    for (const ids of chunk([...new Set(groupIds)], 200)) {
      if (ids.length === 0) continue;
      const res = await this.client.send(new DescribeSecurityGroupsCommand({ GroupIds: ids }));
      for (const g of res.SecurityGroups ?? []) {
        out.push({
          groupId: g.GroupId ?? '',
          ...(g.GroupName ? { groupName: cleanLine(g.GroupName) } : {}),
          ingress: (g.IpPermissions ?? []).map((p) => ({
            protocol: p.IpProtocol ?? '-1',
            ...(p.FromPort !== undefined ? { fromPort: p.FromPort } : {}),
            ...(p.ToPort !== undefined ? { toPort: p.ToPort } : {}),
            cidrs: [
              ...(p.IpRanges ?? []).map((r) => r.CidrIp ?? ''),
              ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6 ?? ''),
            ].filter((c) => c !== ''),
          })),
        });
      }
    }
    return out;
  }

  /**
   * Every stopped instance with the EBS volumes attached to it (DescribeInstances filtered to stopped, then
   * DescribeVolumes for their volume ids, 200 per call): what a stopped machine still costs.
   */
  async stoppedInstanceDisks(): Promise<StoppedInstanceDisks[]> {
    const out: StoppedInstanceDisks[] = [];
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: 1000 },
      { Filters: [{ Name: 'instance-state-name', Values: ['stopped'] }] },
    );
    const volumeIds: string[] = [];
    const owners = new Map<string, StoppedInstanceDisks>();
    for await (const page of pages) {
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          if (!i.InstanceId || !i.InstanceType) continue;
          const entry: StoppedInstanceDisks = {
            instanceId: i.InstanceId,
            region: this.region,
            instanceType: i.InstanceType,
            tags: cleanTags(i.Tags ?? []),
            volumes: [],
          };
          out.push(entry);
          for (const m of i.BlockDeviceMappings ?? []) {
            const id = m.Ebs?.VolumeId;
            if (!id) continue;
            volumeIds.push(id);
            owners.set(id, entry);
          }
        }
      }
    }
    for (const ids of chunk(volumeIds, 200)) {
      const res = await this.client.send(new DescribeVolumesCommand({ VolumeIds: ids }));
      for (const v of res.Volumes ?? []) {
        const entry = v.VolumeId ? owners.get(v.VolumeId) : undefined;
        if (!entry || !v.VolumeId) continue;
        entry.volumes.push({
          volumeId: v.VolumeId,
          sizeGb: v.Size ?? 0,
          volumeType: v.VolumeType ?? 'standard',
        });
      }
    }
    return out;
  }

  /** This account's EBS snapshots (OwnerIds self) started before `before`: billed every month until deleted. */
  async snapshotsBefore(before: Date): Promise<SnapshotFact[]> {
    const out: SnapshotFact[] = [];
    for await (const page of paginateDescribeSnapshots(
      { client: this.client, pageSize: 1000 },
      { OwnerIds: ['self'], Filters: [{ Name: 'status', Values: ['completed'] }] },
    )) {
      for (const s of page.Snapshots ?? []) {
        if (!s.SnapshotId || !(s.StartTime instanceof Date) || s.StartTime.getTime() >= before.getTime())
          continue;
        out.push({
          snapshotId: s.SnapshotId,
          region: this.region,
          sizeGb: s.VolumeSize ?? 0,
          startTime: s.StartTime.toISOString(),
          tags: cleanTags(s.Tags ?? []),
        });
      }
    }
    return out;
  }

  /** NAT gateways that exist (state available or pending): billed by the hour whether used or not. */
  async natGateways(): Promise<NatGatewayFact[]> {
    const out: NatGatewayFact[] = [];
    for await (const page of paginateDescribeNatGateways(
      { client: this.client, pageSize: 1000 },
      { Filter: [{ Name: 'state', Values: ['available', 'pending'] }] },
    )) {
      for (const n of page.NatGateways ?? []) {
        if (!n.NatGatewayId) continue;
        out.push({
          natGatewayId: n.NatGatewayId,
          region: this.region,
          tags: cleanTags(n.Tags ?? []),
          ...(n.CreateTime instanceof Date ? { createTime: n.CreateTime.toISOString() } : {}),
        });
      }
    }
    return out;
  }

  /** Instances (stopped, or running again) that carry the watchdog's stopped-at tag. */
  async watchdogStops(): Promise<WatchdogStop[]> {
    const out: WatchdogStop[] = [];
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: 1000 },
      {
        Filters: [
          { Name: 'tag-key', Values: [TAGS.stoppedAt] },
          { Name: 'instance-state-name', Values: ['stopped', 'stopping', 'running', 'pending'] },
        ],
      },
    );
    for await (const page of pages) {
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          const tags = cleanTags(i.Tags ?? []);
          const stoppedAt = tags[TAGS.stoppedAt];
          if (!i.InstanceId || !i.InstanceType || stoppedAt === undefined) continue;
          const stopReason = tags[TAGS.stopReason];
          out.push({
            instanceId: i.InstanceId,
            region: this.region,
            instanceType: i.InstanceType,
            state: i.State?.Name ?? 'unknown',
            stoppedAt,
            ...(stopReason !== undefined ? { stopReason } : {}),
            ...(i.LaunchTime ? { launchTime: new Date(i.LaunchTime).toISOString() } : {}),
            tags,
          });
        }
      }
    }
    return out;
  }
}
