import { AssumeRoleCommand, GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { NAMES } from '../core/names.js';

/** IAM actions this adapter uses (GetCallerIdentity needs no permission). */
export const STS_PERMISSIONS = ['sts:AssumeRole'] as const;

/** Credentials are renewed this long before they expire, so no call runs with credentials about to lapse. */
export const CREDENTIALS_REFRESH_MARGIN_MS = 5 * 60_000;

/** The AWS partition of a region: aws, aws-cn or aws-us-gov. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/**
 * The ARN of a member account's watchdog role. Member roles live under the watchdog's IAM path
 * (`/cost-watchdog/`), which is what the sweep role may assume and what resources/member-role.yml creates.
 */
export function memberRoleArn(accountId: string, roleName: string, region: string): string {
  return `arn:${partitionOf(region)}:iam::${accountId}:role${NAMES.iamPath}${roleName}`;
}

/**
 * STS for multi-account sweeps: assumes the member role in each account (session name `cost-watchdog`).
 * Credentials are cached per account for the run and renewed when they are about to expire.
 */
export class MemberCredentials {
  private readonly cache = new Map<string, Promise<AwsCredentialIdentity>>();

  constructor(
    private readonly client: STSClient,
    /** The home region (gives the partition of the role ARNs). */
    private readonly region: string,
    private readonly clock: () => Date,
  ) {}

  /** The account id of the credentials the watchdog runs with (GetCallerIdentity). */
  async callerAccount(): Promise<string> {
    const res = await this.client.send(new GetCallerIdentityCommand({}));
    if (!res.Account) throw new Error('sts:GetCallerIdentity returned no account id');
    return res.Account;
  }

  /** Temporary credentials of `roleName` in `accountId`: from the cache while valid, else AssumeRole. */
  async forAccount(accountId: string, roleName: string): Promise<AwsCredentialIdentity> {
    const key = `${accountId}/${roleName}`;
    const cached = this.cache.get(key);
    if (cached) {
      try {
        const creds = await cached;
        if (!this.expiresSoon(creds)) return creds;
      } catch {
        // a failed attempt is not cached: try again
      }
    }
    const fresh = this.assume(accountId, roleName);
    this.cache.set(key, fresh);
    fresh.catch(() => {
      if (this.cache.get(key) === fresh) this.cache.delete(key);
    });
    return fresh;
  }

  /** A credential provider for SDK clients that always hands out valid (cached or renewed) credentials. */
  provider(accountId: string, roleName: string): AwsCredentialIdentityProvider {
    return () => this.forAccount(accountId, roleName);
  }

  private expiresSoon(creds: AwsCredentialIdentity): boolean {
    return (
      creds.expiration !== undefined &&
      creds.expiration.getTime() - CREDENTIALS_REFRESH_MARGIN_MS <= this.clock().getTime()
    );
  }

  private async assume(accountId: string, roleName: string): Promise<AwsCredentialIdentity> {
    const res = await this.client.send(
      new AssumeRoleCommand({
        RoleArn: memberRoleArn(accountId, roleName, this.region),
        RoleSessionName: NAMES.service,
      }),
    );
    const c = res.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new Error(`sts:AssumeRole returned no credentials for account ${accountId}`);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}),
      accountId,
    };
  }
}
