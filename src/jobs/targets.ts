import type { AwsTarget } from '../aws/clients.js';
import { mapBounded } from '../aws/clients.js';
import type { AccountServices, SweepServices } from '../aws/services.js';
import { ConfigError, describeError } from '../core/errors.js';
import type { Policy } from '../core/policy.js';

/** A member account to sweep and the role to assume there. */
export interface MemberAccount {
  id: string;
  roleName: string;
}

/**
 * The account x region pairs a sweep covers: the policy's regions, or every enabled region (DescribeRegions)
 * when the policy says `all`, for the home account and for each member account (policy `accounts`, and every
 * active account of the organization with `organization: true`), whose credentials come from STS AssumeRole.
 * `only` (the CLI's --region) narrows the regions down. A member account that cannot be reached becomes one
 * target with region '-' and `unavailable` set, which the sweep reports as a failed scope; the others go on.
 */
export async function resolveTargets(
  policy: Policy,
  home: AwsTarget,
  services: SweepServices,
  only?: string[],
  /** Member accounts resolved at once (default: the policy's concurrency). */
  concurrency: number = policy.concurrency,
): Promise<AwsTarget[]> {
  const regionsOf = async (where: AwsTarget): Promise<string[]> => {
    if (only && only.length > 0) return only;
    if (policy.regions === 'all') return services.ec2(where).enabledRegions();
    return policy.regions;
  };
  const homeTargets = (await regionsOf(home)).map((region) => ({ ...home, region }));
  if (policy.accounts.length === 0 && !policy.organization) return homeTargets;

  if (!services.accounts) {
    throw new ConfigError(
      'policy sets accounts or organization, but these services cannot assume member roles',
    );
  }
  const access = services.accounts(home);
  const { members, failure } = await memberAccounts(policy, access);
  const perAccount = await mapBounded(members, concurrency, async (member): Promise<AwsTarget[]> => {
    let operation = 'sts:AssumeRole';
    try {
      await access.credentials.forAccount(member.id, member.roleName);
      const inAccount: AwsTarget = {
        ...home,
        account: member.id,
        credentials: access.credentials.provider(member.id, member.roleName),
      };
      operation = 'ec2:DescribeRegions';
      return (await regionsOf(inAccount)).map((region) => ({ ...inAccount, region }));
    } catch (err) {
      return [{ region: '-', account: member.id, unavailable: { operation, message: describeError(err) } }];
    }
  });
  return [...homeTargets, ...(failure ? [failure] : []), ...perAccount.flat()];
}

/**
 * The member accounts of a policy: its `accounts` list, plus with `organization: true` every active account of
 * the organization (role `memberRoleName`) except the home account itself, which is swept with its own role.
 * When the organization cannot be listed, `failure` is a target to report and the listed accounts remain.
 */
export async function memberAccounts(
  policy: Policy,
  access: AccountServices,
): Promise<{ members: MemberAccount[]; failure?: AwsTarget }> {
  const out = new Map<string, MemberAccount>();
  for (const a of policy.accounts) out.set(a.id, { id: a.id, roleName: a.roleName });
  if (!policy.organization) return { members: [...out.values()] };
  try {
    const [ids, self] = await Promise.all([
      access.organization.activeAccountIds(),
      access.credentials.callerAccount(),
    ]);
    for (const id of ids) {
      if (id !== self && !out.has(id)) out.set(id, { id, roleName: policy.memberRoleName });
    }
    return { members: [...out.values()] };
  } catch (err) {
    // The listed accounts are still swept; the report says the organization could not be read.
    const unavailable = { operation: 'organizations:ListAccounts', message: describeError(err) };
    return { members: [...out.values()], failure: { region: '-', unavailable } };
  }
}

/**
 * The member role the policy names for an account: its own `roleName` under `accounts`, else with
 * `organization: true` the `memberRoleName`; undefined for an account the policy does not sweep.
 */
export function memberRoleFor(policy: Policy, account: string): string | undefined {
  const listed = policy.accounts.find((a) => a.id === account);
  if (listed) return listed.roleName;
  return policy.organization ? policy.memberRoleName : undefined;
}
