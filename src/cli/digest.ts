import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { PriceLookup } from '../aws/pricing.js';
import type { AwsTarget } from '../aws/clients.js';
import { renderDigest } from '../core/digest.js';
import { sendDigest } from '../jobs/digest.js';
import { setAwsAccessCheck } from './aws-access.js';
import type { CommandContext } from './command.js';
import { loadPolicy } from './context.js';
import { cliServices } from './fleet.js';

/** Cost services used by `digest`; tests replace them. */
let costServices: (home: AwsTarget) => CostServices = sdkCostServices;

/** For tests: use these cost services instead of SDK clients (fake ones skip the credentials check). */
export function setCliCostServices(factory: (home: AwsTarget) => CostServices): void {
  costServices = factory;
  setAwsAccessCheck(factory === sdkCostServices ? 'sts' : undefined);
}

/** `digest` (commands.ts): the daily digest in the terminal (the same figures as the email); read-only. */
export async function runDigestCommand({ values, common, io }: CommandContext): Promise<number> {
  const policy = loadPolicy(common);
  const services = costServices(common.home);
  const costs = values['table-prices'] === true ? { ...services, prices: new PriceLookup() } : services;
  // The scheduled digest's use case without a destination: the same figures, nothing sent or recorded.
  const { digest, nothingRead } = await sendDigest(
    { policy, home: common.home, services: cliServices(), costs: () => costs },
    common.at ?? new Date(),
    common.regions,
  );
  const errors = digest.errors.map(
    (e) => `error: ${e.region}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation}: ${e.message}`,
  );
  if (nothingRead) {
    // Not a report of $0.00 (nor JSON that says nothing runs): nothing could be read.
    const message = 'digest failed: no region could be read; no report.';
    if (common.json)
      io.out(JSON.stringify({ error: { type: 'DigestError', message, errors: digest.errors } }, null, 2));
    else {
      io.err(message);
      for (const e of errors) io.err(e);
    }
    return 1;
  }
  if (common.json) io.out(JSON.stringify(digest, null, 2));
  else io.out(renderDigest(digest).text);
  for (const e of errors) io.err(e);
  return digest.errors.length > 0 ? 1 : 0;
}
