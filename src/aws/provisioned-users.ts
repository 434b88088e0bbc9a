import { GetGroupCommand, type IAMClient } from '@aws-sdk/client-iam';
import { describeError } from '../core/errors.js';
import { NAMES } from '../core/names.js';

/** IAM actions this adapter uses (on the users group only). */
export const PROVISIONED_USERS_PERMISSIONS = ['iam:GetGroup'] as const;

/** How long a warm container trusts the member list it read. */
export const PROVISIONED_USERS_TTL_MS = 5 * 60_000;

/** The provisioned users, or why they are not known (IAM denied, as in lab accounts, or failing). */
export type ProvisionedUserList = { names: ReadonlySet<string> } | { names: null; why: string };

/**
 * Who the provisioned users are: the members of the IAM group `cost-watchdog-users` that `provision` puts every
 * user in. Read with GetGroup (paginated) and kept for PROVISIONED_USERS_TTL_MS. A group that does not exist means
 * nobody was provisioned; a denied or failing call means "unknown", which callers treat as provisioned.
 */
export class ProvisionedUsers {
  private cached: { at: number; list: ProvisionedUserList } | undefined;

  constructor(
    private readonly client: IAMClient,
    private readonly clock: () => Date = () => new Date(),
    private readonly groupName: string = NAMES.usersGroup,
  ) {}

  /** The member names (from cache when fresh). Never throws. */
  async list(): Promise<ProvisionedUserList> {
    const now = this.clock().getTime();
    if (this.cached && now - this.cached.at < PROVISIONED_USERS_TTL_MS) return this.cached.list;
    const list = await this.read();
    this.cached = { at: now, list };
    return list;
  }

  private async read(): Promise<ProvisionedUserList> {
    const names = new Set<string>();
    let marker: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new GetGroupCommand({ GroupName: this.groupName, ...(marker ? { Marker: marker } : {}) }),
        );
        for (const u of res.Users ?? []) if (u.UserName) names.add(u.UserName);
        marker = res.IsTruncated ? res.Marker : undefined;
      } while (marker);
      return { names };
    } catch (err) {
      if ((err as { name?: string })?.name === 'NoSuchEntity') return { names: new Set() };
      return { names: null, why: describeError(err) };
    }
  }
}
