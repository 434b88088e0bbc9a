import type { AwsTarget } from '../aws/clients.js';
import type { SweepServices } from '../aws/services.js';
import type { Policy } from '../core/policy.js';

/**
 * The account x region pairs a sweep covers: the policy's regions, or every enabled region of the home
 * account (DescribeRegions) when the policy says `all`. `only` (the CLI's --region) narrows it down.
 */
export async function resolveTargets(
  policy: Policy,
  home: AwsTarget,
  services: SweepServices,
  only?: string[],
): Promise<AwsTarget[]> {
  let regions: string[];
  if (only && only.length > 0) regions = only;
  else if (policy.regions === 'all') regions = await services.ec2(home).enabledRegions();
  else regions = policy.regions;
  return regions.map((region) => ({ ...home, region }));
}
