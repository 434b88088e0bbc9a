import { randomBytes } from 'node:crypto';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { MIN_KEY_BYTES } from '../core/names.js';

/** IAM actions the actions function needs: read (and decrypt) the key parameter. */
export const SIGNING_KEY_READ_PERMISSIONS = ['ssm:GetParameter'] as const;

/** IAM actions the sweep needs: read the key, and create it on the first run that warns. */
export const SIGNING_KEY_CREATE_PERMISSIONS = ['ssm:GetParameter', 'ssm:PutParameter'] as const;

/**
 * How long a container trusts the key it read. A deleted or replaced key stops the old links within this long
 * in a warm actions container, and a new key is taken up within this long. A TTL rather than a check of the
 * parameter's version per click: at most one SSM call per container per minute whatever the traffic (random
 * links cannot hammer SSM or add its latency to every click), for a revocation delay of at most a minute.
 */
export const KEY_CACHE_MS = 60_000;

function errorName(err: unknown): string | undefined {
  return (err as { name?: string })?.name;
}

/**
 * The HMAC key of the action links, an SSM SecureString. The actions function keeps it for at most
 * KEY_CACHE_MS; the sweep reads it afresh on every run. The value is never logged and never put in an
 * environment variable.
 */
export class SigningKeyStore {
  private cached: string | undefined;
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: SSMClient,
    readonly parameterName: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * The key, or undefined when the parameter does not exist (no link can have been signed, or the key was
   * deleted to revoke every link). Read from SSM when the last read is KEY_CACHE_MS old or older.
   */
  async read(): Promise<string | undefined> {
    if (this.fresh()) return this.cached;
    return this.fetch();
  }

  /**
   * The key as it is in SSM now (never from the cache), created first when missing: 32 random bytes as
   * SecureString (default aws/ssm KMS key), written with Overwrite false, so when two runs race the second
   * one's write fails and it reads the winner's key.
   */
  async readOrCreate(): Promise<string> {
    // Never from the cache: each sweep run signs with the key that is in SSM now.
    const existing = await this.fetch();
    if (existing !== undefined) return existing;
    try {
      await this.client.send(
        new PutParameterCommand({
          Name: this.parameterName,
          Value: randomBytes(32).toString('base64url'),
          Type: 'SecureString',
          Overwrite: false,
          Description:
            'cost-watchdog: HMAC key of the action links in warnings. Delete it to invalidate every link.',
        }),
      );
    } catch (err) {
      if (errorName(err) !== 'ParameterAlreadyExists') throw err;
    }
    const key = await this.fetch();
    if (key === undefined)
      throw new Error(`SSM parameter ${this.parameterName} vanished right after it was written`);
    return key;
  }

  private fresh(): boolean {
    return this.clock().getTime() - this.readAt < KEY_CACHE_MS;
  }

  private async fetch(): Promise<string | undefined> {
    this.readAt = this.clock().getTime();
    // Until this read succeeds nothing is cached: an unreadable key never leaves an old one in use.
    this.cached = undefined;
    try {
      const res = await this.client.send(
        new GetParameterCommand({ Name: this.parameterName, WithDecryption: true }),
      );
      const value = res.Parameter?.Value;
      if (value === undefined || Buffer.byteLength(value, 'utf8') < MIN_KEY_BYTES) {
        throw new Error(
          `SSM parameter ${this.parameterName} is shorter than ${MIN_KEY_BYTES} bytes; delete it and the next sweep creates a new key`,
        );
      }
      this.cached = value;
      return value;
    } catch (err) {
      if (errorName(err) === 'ParameterNotFound') return undefined;
      // Not cached: the next request asks SSM again (and gets "try again later" until it answers).
      this.readAt = Number.NEGATIVE_INFINITY;
      throw err;
    }
  }
}
