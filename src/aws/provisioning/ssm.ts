import {
  DeleteParameterCommand,
  GetParameterCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { NAMES, TAGS } from '../../core/policy.js';

/**
 * SSM actions this adapter uses. The provision role grants them on `/cost-watchdog/*` parameters (and
 * GetParameter on the public Amazon Linux and Deep Learning AMI parameters). PutParameter with tags also
 * needs AddTagsToResource.
 */
export const SSM_PROVISION_PERMISSIONS = [
  'ssm:GetParameter',
  'ssm:PutParameter',
  'ssm:AddTagsToResource',
  'ssm:ListTagsForResource',
  'ssm:DeleteParameter',
] as const;

/** The public parameter with the latest Amazon Linux 2023 AMI for an architecture (x86_64 or arm64). */
export function al2023Parameter(architecture: string): string {
  return `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${architecture}`;
}

/**
 * The public parameter with the latest AWS Deep Learning Base AMI (OSS NVIDIA driver, CUDA; Amazon Linux 2023)
 * for an architecture. Its name is the AMI's name without "Deep Learning" and "AMI" (AWS DLAMI guide,
 * "Finding the ID of a DLAMI"); the arm64 image (for g5g) carries "ARM64" in its name.
 */
export function deepLearningParameter(architecture: string): string {
  const arch = architecture === 'arm64' ? 'arm64' : 'x86_64';
  const image = `${arch === 'arm64' ? 'arm64-' : ''}base-oss-nvidia-driver-gpu-amazon-linux-2023`;
  return `/aws/service/deeplearning/ami/${arch}/${image}/latest/ami-id`;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'ParameterNotFound' || name === 'InvalidResourceId';
}

/** SSM Parameter Store for provisioning: secrets as SecureString under /cost-watchdog/, public AMI ids. */
export class ParameterStore {
  constructor(private readonly client: SSMClient) {}

  /** The value of a plain (public) parameter. */
  async read(name: string): Promise<string> {
    const res = await this.client.send(new GetParameterCommand({ Name: name }));
    const value = res.Parameter?.Value;
    if (!value) throw new Error(`SSM parameter ${name} has no value`);
    return value;
  }

  /** The value of a plain (public) parameter; undefined when it does not exist (e.g. not in this region). */
  async find(name: string): Promise<string | undefined> {
    try {
      const res = await this.client.send(new GetParameterCommand({ Name: name }));
      return res.Parameter?.Value || undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Whether the parameter exists (without decrypting it). */
  async exists(name: string): Promise<boolean> {
    try {
      await this.client.send(new GetParameterCommand({ Name: name }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Decrypts a SecureString (the CLI's --key-file). The value is never logged by this code. */
  async readSecret(name: string): Promise<string | undefined> {
    try {
      const res = await this.client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return res.Parameter?.Value;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Stores a secret as SecureString (default aws/ssm key), tagged as managed. Never overwrites. */
  async putSecret(name: string, value: string, description: string): Promise<void> {
    if (!name.startsWith(NAMES.iamPath))
      throw new Error(`refusing to write ${name}: outside ${NAMES.iamPath}`);
    await this.client.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: 'SecureString',
        Description: description,
        Overwrite: false,
        Tags: [{ Key: TAGS.managed, Value: 'true' }],
      }),
    );
  }

  /**
   * Whether a parameter under /cost-watchdog/ exists and is provision's own (managed tag); a parameter without
   * the tag is an error that says it is left alone. Read-only: what deleteManaged() would delete.
   */
  async managedState(name: string): Promise<'absent' | 'managed'> {
    if (!name.startsWith(NAMES.iamPath))
      throw new Error(`refusing to delete ${name}: outside ${NAMES.iamPath}`);
    let tags: { Key?: string | undefined; Value?: string | undefined }[];
    try {
      const res = await this.client.send(
        new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name }),
      );
      tags = res.TagList ?? [];
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
    if (!tags.some((t) => t.Key === TAGS.managed)) {
      throw new Error(
        `SSM parameter ${name} has no ${TAGS.managed} tag: not created by cost-watchdog, left alone`,
      );
    }
    return 'managed';
  }

  /** Deletes a parameter under /cost-watchdog/ that carries the managed tag; false when there was none. */
  async deleteManaged(name: string): Promise<boolean> {
    if ((await this.managedState(name)) === 'absent') return false;
    try {
      await this.client.send(new DeleteParameterCommand({ Name: name }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
