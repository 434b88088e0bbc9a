import {
  AuthorizeSecurityGroupIngressCommand,
  CreateDefaultVpcCommand,
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteLaunchTemplateCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type IpPermission,
  type RequestLaunchTemplateData,
  type ResponseLaunchTemplateData,
  ModifyLaunchTemplateCommand,
  paginateDescribeInstances,
  RevokeSecurityGroupIngressCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { TAGS } from '../../core/policy.js';
import type { FleetPort } from '../../core/ports.js';
import { Ec2Adapter } from '../ec2.js';

/**
 * EC2 actions this adapter uses. The provision role grants the write actions on `cost-watchdog-*` key pairs,
 * security groups and launch templates only (by name or by the managed tag); ec2:StopInstances, and CreateTags /
 * DeleteTags of `cost-watchdog:*` keys on instances, only for deprovision --stop-instances (through enforce's
 * stopResources: the stop is recorded on the instance). Nothing here ever terminates an instance.
 */
export const EC2_PROVISION_PERMISSIONS = [
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeImages',
  'ec2:DescribeInstances',
  'ec2:DescribeKeyPairs',
  'ec2:CreateKeyPair',
  'ec2:DeleteKeyPair',
  'ec2:DescribeVpcs',
  'ec2:CreateDefaultVpc',
  'ec2:DescribeSecurityGroups',
  'ec2:CreateSecurityGroup',
  'ec2:AuthorizeSecurityGroupIngress',
  'ec2:RevokeSecurityGroupIngress',
  'ec2:DeleteSecurityGroup',
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:CreateLaunchTemplate',
  'ec2:CreateLaunchTemplateVersion',
  'ec2:ModifyLaunchTemplate',
  'ec2:DeleteLaunchTemplate',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:StopInstances',
] as const;

/** One ingress rule of a security group, split to a single source. */
export interface IngressRule {
  protocol: string;
  fromPort?: number;
  toPort?: number;
  /** Exactly one source is set. */
  cidr?: string;
  cidrIpv6?: string;
  groupId?: string;
  prefixListId?: string;
}

/** A security group as found. */
export interface FoundGroup {
  groupId: string;
  vpcId: string;
  managed: boolean;
  ingress: IngressRule[];
  tags: Record<string, string>;
}

/** A launch template as found, with the data of its default version. */
export interface FoundTemplate {
  id: string;
  managed: boolean;
  defaultVersion: number;
  data: ResponseLaunchTemplateData | undefined;
  tags: Record<string, string>;
}

/** A key pair as found. */
export interface FoundKeyPair {
  id: string;
  managed: boolean;
  tags: Record<string, string>;
}

/** An instance of a provisioned user, as deprovision sees it. */
export interface OwnedInstance {
  instanceId: string;
  state: string;
  securityGroupIds: string[];
  /** Launched with hibernation: stopping it hibernates it. */
  hibernate: boolean;
}

/** Facts about an instance type needed to build a launch template. */
export interface TypeFacts {
  architecture: string;
  freeTierEligible: boolean;
  /** Number of GPUs (0 for most types). */
  gpus: number;
  /** Burstable performance (CPU credits: t2, t3, t3a, t4g). */
  burstable: boolean;
}

const errorName = (err: unknown) => (err as { name?: string; Code?: string })?.name ?? '';

function tagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function isManaged(tags: Tag[] | undefined): boolean {
  return (tags ?? []).some((t) => t.Key === TAGS.managed && t.Value === 'true');
}

function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

/** Splits security group permissions into one rule per source, so they can be compared and revoked one by one. */
export function splitPermissions(permissions: readonly IpPermission[]): IngressRule[] {
  const out: IngressRule[] = [];
  for (const p of permissions) {
    const base: IngressRule = {
      protocol: p.IpProtocol ?? '-1',
      ...(p.FromPort !== undefined ? { fromPort: p.FromPort } : {}),
      ...(p.ToPort !== undefined ? { toPort: p.ToPort } : {}),
    };
    for (const r of p.IpRanges ?? []) if (r.CidrIp) out.push({ ...base, cidr: r.CidrIp });
    for (const r of p.Ipv6Ranges ?? []) if (r.CidrIpv6) out.push({ ...base, cidrIpv6: r.CidrIpv6 });
    for (const r of p.UserIdGroupPairs ?? []) if (r.GroupId) out.push({ ...base, groupId: r.GroupId });
    for (const r of p.PrefixListIds ?? [])
      if (r.PrefixListId) out.push({ ...base, prefixListId: r.PrefixListId });
  }
  return out;
}

/** The EC2 permission for one rule. */
export function toPermission(rule: IngressRule, description?: string): IpPermission {
  const d = description ? { Description: description } : {};
  return {
    IpProtocol: rule.protocol,
    ...(rule.fromPort !== undefined ? { FromPort: rule.fromPort } : {}),
    ...(rule.toPort !== undefined ? { ToPort: rule.toPort } : {}),
    ...(rule.cidr ? { IpRanges: [{ CidrIp: rule.cidr, ...d }] } : {}),
    ...(rule.cidrIpv6 ? { Ipv6Ranges: [{ CidrIpv6: rule.cidrIpv6, ...d }] } : {}),
    ...(rule.groupId ? { UserIdGroupPairs: [{ GroupId: rule.groupId }] } : {}),
    ...(rule.prefixListId ? { PrefixListIds: [{ PrefixListId: rule.prefixListId }] } : {}),
  };
}

/** A stable text form of a rule, for comparing and for messages: `tcp 22 from 0.0.0.0/0`. */
export function describeRule(rule: IngressRule): string {
  const ports =
    rule.protocol === '-1'
      ? 'all traffic'
      : `${rule.protocol} ${rule.fromPort === rule.toPort ? rule.fromPort : `${rule.fromPort}-${rule.toPort}`}`;
  const source = rule.cidr ?? rule.cidrIpv6 ?? rule.groupId ?? rule.prefixListId ?? '?';
  return `${ports} from ${source}`;
}

/** EC2 for provisioning in one region: key pairs, the default VPC, security groups, launch templates. */
export class ProvisionEc2 {
  constructor(
    private readonly client: EC2Client,
    readonly region: string,
  ) {}

  /** Architecture and free-tier eligibility of a type; undefined when EC2 does not know the type here. */
  async typeFacts(type: string): Promise<TypeFacts | undefined> {
    try {
      const res = await this.client.send(
        new DescribeInstanceTypesCommand({ InstanceTypes: [type as never] }),
      );
      const t = res.InstanceTypes?.[0];
      if (!t) return undefined;
      const archs = t.ProcessorInfo?.SupportedArchitectures ?? [];
      return {
        architecture: archs.includes('arm64') && !archs.includes('x86_64') ? 'arm64' : 'x86_64',
        freeTierEligible: t.FreeTierEligible === true,
        gpus: (t.GpuInfo?.Gpus ?? []).reduce((n, g) => n + (g.Count ?? 0), 0),
        burstable: t.BurstablePerformanceSupported === true,
      };
    } catch (err) {
      if (errorName(err) === 'InvalidInstanceType') return undefined;
      throw err;
    }
  }

  /** The root device name and the size (GiB) of the image's root snapshot. */
  async rootDevice(imageId: string): Promise<{ deviceName: string; sizeGiB: number }> {
    const res = await this.client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const image = res.Images?.[0];
    const deviceName = image?.RootDeviceName ?? '/dev/xvda';
    const root = image?.BlockDeviceMappings?.find((m) => m.DeviceName === deviceName);
    return { deviceName, sizeGiB: root?.Ebs?.VolumeSize ?? 8 };
  }

  /** The key pair's id, tags and whether it carries the managed tag; undefined when missing. */
  async findKeyPair(name: string): Promise<FoundKeyPair | undefined> {
    try {
      const res = await this.client.send(new DescribeKeyPairsCommand({ KeyNames: [name] }));
      const kp = res.KeyPairs?.[0];
      return kp ? { id: kp.KeyPairId ?? '', managed: isManaged(kp.Tags), tags: tagMap(kp.Tags) } : undefined;
    } catch (err) {
      if (errorName(err) === 'InvalidKeyPair.NotFound') return undefined;
      throw err;
    }
  }

  /** Creates an ed25519 key pair. The private key is returned once; the caller stores it and drops it. */
  async createKeyPair(
    name: string,
    tags: Record<string, string>,
  ): Promise<{ id: string; privateKey: string }> {
    const res = await this.client.send(
      new CreateKeyPairCommand({
        KeyName: name,
        KeyType: 'ed25519',
        KeyFormat: 'pem',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: tagList(tags) }],
      }),
    );
    if (!res.KeyMaterial) throw new Error(`CreateKeyPair ${name} returned no private key`);
    return { id: res.KeyPairId ?? '', privateKey: res.KeyMaterial };
  }

  /** Deletes a key pair by name. */
  async deleteKeyPair(name: string): Promise<void> {
    await this.client.send(new DeleteKeyPairCommand({ KeyName: name }));
  }

  /** The account's free-tier eligible types in this region, smallest first (see Ec2Adapter.freeTierTypes). */
  freeTierTypes(): Promise<string[]> {
    return new Ec2Adapter(this.client, this.region).freeTierTypes();
  }

  /** The region's instances as the watchdog acts on them (stop and record why, in src/jobs/enforce.ts). */
  fleet(): FleetPort {
    return new Ec2Adapter(this.client, this.region);
  }

  /** The id of the region's default VPC, if it has one. */
  async findDefaultVpc(): Promise<string | undefined> {
    const res = await this.client.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
    );
    return res.Vpcs?.[0]?.VpcId;
  }

  /** Creates the region's default VPC; returns its id. */
  async createDefaultVpc(): Promise<string> {
    const made = await this.client.send(new CreateDefaultVpcCommand({}));
    if (!made.Vpc?.VpcId) throw new Error(`CreateDefaultVpc in ${this.region} returned no VPC id`);
    return made.Vpc.VpcId;
  }

  /** The security group with this name in the VPC, with its ingress rules; undefined when missing. */
  async findSecurityGroup(name: string, vpcId: string): Promise<FoundGroup | undefined> {
    const res = await this.client.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'group-name', Values: [name] },
          { Name: 'vpc-id', Values: [vpcId] },
        ],
      }),
    );
    const g = res.SecurityGroups?.[0];
    if (!g?.GroupId) return undefined;
    return {
      groupId: g.GroupId,
      vpcId,
      managed: isManaged(g.Tags),
      ingress: splitPermissions(g.IpPermissions ?? []),
      tags: tagMap(g.Tags),
    };
  }

  /** Creates a security group (no ingress yet) in the VPC. */
  async createSecurityGroup(
    name: string,
    vpcId: string,
    description: string,
    tags: Record<string, string>,
  ): Promise<string> {
    const res = await this.client.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: description,
        VpcId: vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: tagList(tags) }],
      }),
    );
    if (!res.GroupId) throw new Error(`CreateSecurityGroup ${name} returned no id`);
    return res.GroupId;
  }

  /** Adds ingress rules. */
  async authorize(groupId: string, rules: readonly IngressRule[], description: string): Promise<void> {
    if (rules.length === 0) return;
    await this.client.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: rules.map((r) => toPermission(r, description)),
      }),
    );
  }

  /** Removes ingress rules. */
  async revoke(groupId: string, rules: readonly IngressRule[]): Promise<void> {
    if (rules.length === 0) return;
    await this.client.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: rules.map((r) => toPermission(r)),
      }),
    );
  }

  /** Deletes a security group; false when it is still in use (by instances, even stopped ones). */
  async deleteSecurityGroup(groupId: string): Promise<boolean> {
    try {
      await this.client.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
      return true;
    } catch (err) {
      if (errorName(err) === 'DependencyViolation' || errorName(err) === 'InvalidGroup.InUse') return false;
      throw err;
    }
  }

  /** The launch template with this name and the data of its default version; undefined when missing. */
  async findLaunchTemplate(name: string): Promise<FoundTemplate | undefined> {
    let template: { id: string; managed: boolean; defaultVersion: number; tags: Record<string, string> };
    try {
      const res = await this.client.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }));
      const t = res.LaunchTemplates?.[0];
      if (!t?.LaunchTemplateId) return undefined;
      template = {
        id: t.LaunchTemplateId,
        managed: isManaged(t.Tags),
        defaultVersion: t.DefaultVersionNumber ?? 1,
        tags: tagMap(t.Tags),
      };
    } catch (err) {
      const name = errorName(err);
      if (
        name === 'InvalidLaunchTemplateName.NotFoundException' ||
        name === 'InvalidLaunchTemplateId.NotFound'
      ) {
        return undefined;
      }
      throw err;
    }
    const versions = await this.client.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: template.id, Versions: ['$Default'] }),
    );
    return { ...template, data: versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData };
  }

  /** Creates a launch template; returns its id. */
  async createLaunchTemplate(
    name: string,
    data: RequestLaunchTemplateData,
    tags: Record<string, string>,
  ): Promise<string> {
    const res = await this.client.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: data,
        VersionDescription: 'cost-watchdog provision',
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: tagList(tags) }],
      }),
    );
    if (!res.LaunchTemplate?.LaunchTemplateId) throw new Error(`CreateLaunchTemplate ${name} returned no id`);
    return res.LaunchTemplate.LaunchTemplateId;
  }

  /** Adds a version with `data` and makes it the default; returns the new version number. */
  async updateLaunchTemplate(id: string, data: RequestLaunchTemplateData): Promise<number> {
    const res = await this.client.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: id,
        LaunchTemplateData: data,
        VersionDescription: 'cost-watchdog provision',
      }),
    );
    const version = res.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new Error(`CreateLaunchTemplateVersion ${id} returned no version`);
    await this.client.send(
      new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: String(version) }),
    );
    return version;
  }

  /** Adds (or overwrites) tags on one of provision's own key pairs, security groups or launch templates. */
  async tag(resourceId: string, tags: Record<string, string>): Promise<void> {
    await this.client.send(new CreateTagsCommand({ Resources: [resourceId], Tags: tagList(tags) }));
  }

  /** Deletes a launch template and all its versions. */
  async deleteLaunchTemplate(id: string): Promise<void> {
    await this.client.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: id }));
  }

  /** Instances (any state but terminated) whose `tagKey` tag is `owner`. */
  async instancesOwnedBy(tagKey: string, owner: string): Promise<OwnedInstance[]> {
    const out: OwnedInstance[] = [];
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: 1000 },
      {
        Filters: [
          { Name: `tag:${tagKey}`, Values: [owner] },
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
          },
        ],
      },
    );
    for await (const page of pages) {
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          if (!i.InstanceId) continue;
          out.push({
            instanceId: i.InstanceId,
            state: i.State?.Name ?? 'unknown',
            securityGroupIds: (i.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
            hibernate: i.HibernationOptions?.Configured === true,
          });
        }
      }
    }
    return out;
  }
}
