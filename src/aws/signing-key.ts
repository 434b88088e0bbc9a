import { randomBytes } from 'node:crypto';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { MIN_KEY_BYTES } from '../core/action-links.js';

/** IAM actions the actions function needs: read (and decrypt) the key parameter. */
export const SIGNING_KEY_READ_PERMISSIONS = ['ssm:GetParameter'] as const;

/** IAM actions the sweep needs: read the key, and create it on the first run that warns. */
export const SIGNING_KEY_CREATE_PERMISSIONS = ['ssm:GetParameter', 'ssm:PutParameter'] as const;

/** Least time between two re-reads of the parameter after a link signed with an unknown key. */
export const KEY_REFRESH_INTERVAL_MS = 60_000;

function errorName(err: unknown): string | undefined {
  return (err as { name?: string })?.name;
}

/**
 * The HMAC key of the action links, an SSM SecureString. Read with decryption once per container and cached;
 * the value is never logged and never put in an environment variable.
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
   * The key, or undefined when the parameter does not exist yet (no link can have been signed). A missing key
   * is looked up again at most once per KEY_REFRESH_INTERVAL_MS, so random links cannot hammer SSM.
   */
  async read(): Promise<string | undefined> {
    if (this.cached !== undefined) return this.cached;
    if (this.clock().getTime() - this.readAt < KEY_REFRESH_INTERVAL_MS) return undefined;
    return this.fetch();
  }

  /**
   * Reads the key again (after a link signed with a key this container does not know, e.g. after the key
   * was replaced), at most once per KEY_REFRESH_INTERVAL_MS so random links cannot hammer SSM.
   */
  async refresh(): Promise<string | undefined> {
    if (this.clock().getTime() - this.readAt < KEY_REFRESH_INTERVAL_MS) return this.cached;
    return this.fetch();
  }

  /**
   * The key, created first when missing: 32 random bytes as SecureString (default aws/ssm KMS key), written
   * with Overwrite false, so when two runs race the second one's write fails and it reads the winner's key.
   */
  async readOrCreate(): Promise<string> {
    const existing = await this.read();
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

  private async fetch(): Promise<string | undefined> {
    this.readAt = this.clock().getTime();
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
      if (errorName(err) === 'ParameterNotFound') {
        this.cached = undefined;
        return undefined;
      }
      throw err;
    }
  }
}
