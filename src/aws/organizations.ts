import { type OrganizationsClient, paginateListAccounts } from '@aws-sdk/client-organizations';

/** IAM actions this adapter uses (only when the policy says `organization: true`). */
export const ORGANIZATIONS_PERMISSIONS = ['organizations:ListAccounts'] as const;

/** AWS Organizations for multi-account sweeps: which member accounts exist and are active. */
export class OrganizationAccounts {
  constructor(private readonly client: OrganizationsClient) {}

  /** Ids of every active account of the organization (ListAccounts, all pages), sorted. */
  async activeAccountIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of paginateListAccounts({ client: this.client }, {})) {
      for (const a of page.Accounts ?? []) {
        // State replaces Status (retired in 2026); either one says whether the account is usable.
        const state = a.State ?? a.Status;
        if (a.Id && (state === undefined || state === 'ACTIVE')) ids.push(a.Id);
      }
    }
    return ids.sort();
  }
}
