import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { PriceLookup } from '../aws/pricing.js';
import type { AwsTarget } from '../aws/clients.js';
import { renderDigest } from '../core/digest.js';
import { sendDigest } from '../jobs/digest.js';
import type { Command } from './command.js';
import { loadPolicy } from './context.js';
import { cliServices } from './fleet.js';

/** Cost services used by `digest`; tests replace them. */
let costServices: (home: AwsTarget) => CostServices = sdkCostServices;

/** For tests: use these cost services instead of SDK clients. */
export function setCliCostServices(factory: (home: AwsTarget) => CostServices): void {
  costServices = factory;
}

/** `digest`: the daily digest in the terminal (the same figures as the email); read-only. */
export const digestCommand: Command = {
  name: 'digest',
  summary: 'print the cost digest: running now, this month, free tier, savings, leaks; read-only',
  usage: `cost-watchdog digest [--table-prices] [options]

Prints the same report as the daily digest email: instances running now with
uptime and $/h, hours and estimated dollars this month per owner, free-tier
hours used / allowance / projection, warnings and stops in the last day,
dollars saved by stops, and cost leaks (unattached EBS volumes, unused Elastic
IPs, public IPv4 addresses). Every dollar figure is an estimate and names its
source. Sends nothing and changes nothing. --json prints the data instead.

  --table-prices   use only the bundled price table (no Price List API calls)

Examples:
  cost-watchdog digest --region us-east-1
  cost-watchdog digest --json > digest.json`,
  options: { 'table-prices': { type: 'boolean', default: false } },
  async run({ values, common, io }) {
    const policy = loadPolicy(common);
    const services = costServices(common.home);
    const costs = values['table-prices'] === true ? { ...services, prices: new PriceLookup() } : services;
    // The scheduled digest's use case without a destination: the same figures, nothing sent or recorded.
    const { digest } = await sendDigest(
      { policy, home: common.home, services: cliServices(), costs: () => costs },
      common.at ?? new Date(),
      common.regions,
    );
    if (common.json) io.out(JSON.stringify(digest, null, 2));
    else io.out(renderDigest(digest).text);
    for (const e of digest.errors) {
      io.err(`error: ${e.region}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation}: ${e.message}`);
    }
    return digest.errors.length > 0 ? 1 : 0;
  },
};
