/**
 * Estimated on-demand prices. Every dollar figure the watchdog shows is an estimate and carries its source:
 * the AWS Price List Query API (looked up per run) or the small table bundled here (used when the API cannot
 * be reached or is not permitted). Nothing here is a bill: the bill is in AWS Billing / Cost Explorer.
 */

/** Where a price came from. */
export type PriceSource = 'price-list-api' | 'bundled-table';

/** One instance type's hourly on-demand price in one region (Linux, shared tenancy, no pre-installed software). */
export interface HourlyPrice {
  instanceType: string;
  region: string;
  /** USD per instance-hour; null when neither the API nor the table knows the type. */
  usdPerHour: number | null;
  source: PriceSource;
  /** Always true: these are list prices, not the account's bill (no credits, savings plans, free tier). */
  estimate: true;
  /** A short human note on how the figure was obtained (e.g. the table's date, a region approximation). */
  note?: string;
}

/** When the bundled table's figures were last checked against published AWS prices (us-east-1, Linux on-demand). */
export const BUNDLED_PRICES_AS_OF = '2026-06';

/**
 * Linux on-demand USD per hour in us-east-1 (N. Virginia), shared tenancy: every current-generation general-purpose,
 * burstable, compute-optimised, memory-optimised and GPU family a class is likely to start, in its sizes up to
 * 2xlarge (plus m5.4xlarge, g4dn.4xlarge, g5.4xlarge and p3.8xlarge).
 *
 * Where the numbers come from: AWS's published on-demand list prices for us-east-1 (the "Amazon EC2 On-Demand
 * Pricing" page; the same figures the Price List API returns for operatingSystem Linux, tenancy Shared,
 * preInstalledSw NA). The table could not be read from the Price List API where it was written (no network to
 * AWS), so it was compiled from those published rates and cross-checked in 2026-06 against independent published
 * copies of them (pricing articles and open-source cost tools that quote the us-east-1 rates). The families marked
 * "approximation" (m8g, c7i-flex, c7a, c8g, r7a, r8g, g4ad, g5g) could not be cross-checked against a second
 * source: treat them as approximate to a few percent. Within a family each size costs twice the one below it (GPU types aside);
 * test/unit/prices.test.ts checks that, which catches a mistyped figure. us-east-2 and us-west-2 charge the same;
 * other regions are typically 5-30% more, so there the table's figure is a labelled approximation. A type that is
 * not here has no price (never $0): it is shown as "?" and left out of totals, which say how many were left out.
 */
// biome-ignore format: one family per line reads as a price table
export const BUNDLED_HOURLY_USD: Readonly<Record<string, number>> = {
  't2.nano': 0.0058, 't2.micro': 0.0116, 't2.small': 0.023, 't2.medium': 0.0464, 't2.large': 0.0928, 't2.xlarge': 0.1856, 't2.2xlarge': 0.3712,
  't3.nano': 0.0052, 't3.micro': 0.0104, 't3.small': 0.0208, 't3.medium': 0.0416, 't3.large': 0.0832, 't3.xlarge': 0.1664, 't3.2xlarge': 0.3328,
  't3a.nano': 0.0047, 't3a.micro': 0.0094, 't3a.small': 0.0188, 't3a.medium': 0.0376, 't3a.large': 0.0752, 't3a.xlarge': 0.1504, 't3a.2xlarge': 0.3008,
  't4g.nano': 0.0042, 't4g.micro': 0.0084, 't4g.small': 0.0168, 't4g.medium': 0.0336, 't4g.large': 0.0672, 't4g.xlarge': 0.1344, 't4g.2xlarge': 0.2688,
  'm5.large': 0.096, 'm5.xlarge': 0.192, 'm5.2xlarge': 0.384, 'm5.4xlarge': 0.768,
  'm5a.large': 0.086, 'm5a.xlarge': 0.172, 'm5a.2xlarge': 0.344,
  'm6i.large': 0.096, 'm6i.xlarge': 0.192, 'm6i.2xlarge': 0.384,
  'm6a.large': 0.0864, 'm6a.xlarge': 0.1728, 'm6a.2xlarge': 0.3456,
  'm6g.medium': 0.0385, 'm6g.large': 0.077, 'm6g.xlarge': 0.154, 'm6g.2xlarge': 0.308,
  'm7i.large': 0.1008, 'm7i.xlarge': 0.2016, 'm7i.2xlarge': 0.4032,
  'm7i-flex.large': 0.09576, 'm7i-flex.xlarge': 0.19152, 'm7i-flex.2xlarge': 0.38304,
  'm7g.medium': 0.0408, 'm7g.large': 0.0816, 'm7g.xlarge': 0.1632, 'm7g.2xlarge': 0.3264,
  'm7a.medium': 0.05796, 'm7a.large': 0.11592, 'm7a.xlarge': 0.23184, 'm7a.2xlarge': 0.46368,
  // approximation:
  'm8g.medium': 0.04488, 'm8g.large': 0.08976, 'm8g.xlarge': 0.17952, 'm8g.2xlarge': 0.35904,
  'c5.large': 0.085, 'c5.xlarge': 0.17, 'c5.2xlarge': 0.34,
  'c5a.large': 0.077, 'c5a.xlarge': 0.154, 'c5a.2xlarge': 0.308,
  'c6i.large': 0.085, 'c6i.xlarge': 0.17, 'c6i.2xlarge': 0.34,
  'c6a.large': 0.0765, 'c6a.xlarge': 0.153, 'c6a.2xlarge': 0.306,
  'c6g.medium': 0.034, 'c6g.large': 0.068, 'c6g.xlarge': 0.136, 'c6g.2xlarge': 0.272,
  'c7i.large': 0.08925, 'c7i.xlarge': 0.1785, 'c7i.2xlarge': 0.357,
  // approximation:
  'c7i-flex.large': 0.08479, 'c7i-flex.xlarge': 0.16958, 'c7i-flex.2xlarge': 0.33915,
  'c7g.medium': 0.0363, 'c7g.large': 0.0725, 'c7g.xlarge': 0.145, 'c7g.2xlarge': 0.29,
  // approximation:
  'c7a.medium': 0.05135, 'c7a.large': 0.1027, 'c7a.xlarge': 0.2054, 'c7a.2xlarge': 0.4108,
  // approximation:
  'c8g.medium': 0.03988, 'c8g.large': 0.07976, 'c8g.xlarge': 0.15952, 'c8g.2xlarge': 0.31904,
  'r5.large': 0.126, 'r5.xlarge': 0.252, 'r5.2xlarge': 0.504,
  'r5a.large': 0.113, 'r5a.xlarge': 0.226, 'r5a.2xlarge': 0.452,
  'r6i.large': 0.126, 'r6i.xlarge': 0.252, 'r6i.2xlarge': 0.504,
  'r6a.large': 0.1134, 'r6a.xlarge': 0.2268, 'r6a.2xlarge': 0.4536,
  'r6g.medium': 0.0504, 'r6g.large': 0.1008, 'r6g.xlarge': 0.2016, 'r6g.2xlarge': 0.4032,
  'r7i.large': 0.1323, 'r7i.xlarge': 0.2646, 'r7i.2xlarge': 0.5292,
  'r7g.medium': 0.0536, 'r7g.large': 0.1071, 'r7g.xlarge': 0.2142, 'r7g.2xlarge': 0.4284,
  // approximation:
  'r7a.medium': 0.07608, 'r7a.large': 0.15215, 'r7a.xlarge': 0.3043, 'r7a.2xlarge': 0.6086,
  // approximation:
  'r8g.medium': 0.05891, 'r8g.large': 0.11782, 'r8g.xlarge': 0.23564, 'r8g.2xlarge': 0.47128,
  'g4dn.xlarge': 0.526, 'g4dn.2xlarge': 0.752, 'g4dn.4xlarge': 1.204,
  // approximation:
  'g4ad.xlarge': 0.37853, 'g4ad.2xlarge': 0.54117,
  'g5.xlarge': 1.006, 'g5.2xlarge': 1.212, 'g5.4xlarge': 1.624,
  // approximation:
  'g5g.xlarge': 0.42, 'g5g.2xlarge': 0.556,
  'g6.xlarge': 0.8048, 'g6.2xlarge': 0.9776,
  'g6e.xlarge': 1.861, 'g6e.2xlarge': 2.24208,
  'p3.2xlarge': 3.06, 'p3.8xlarge': 12.24,
};

/** Families whose figures are approximations (not cross-checked against a second published source). */
export const APPROXIMATE_FAMILIES: readonly string[] = [
  'm8g',
  'c7i-flex',
  'c7a',
  'c8g',
  'r7a',
  'r8g',
  'g4ad',
  'g5g',
];

/** Regions whose Linux on-demand prices for the table's types equal us-east-1's. */
const SAME_AS_US_EAST_1 = new Set(['us-east-1', 'us-east-2', 'us-west-2']);

/** EBS storage, USD per GB-month in us-east-1 (gp3 without extra IOPS/throughput). */
export const EBS_USD_PER_GB_MONTH: Readonly<Record<string, number>> = {
  gp3: 0.08,
  gp2: 0.1,
  io1: 0.125,
  io2: 0.125,
  st1: 0.045,
  sc1: 0.015,
  standard: 0.05,
};

/** EBS snapshots (standard tier), USD per GB-month in us-east-1. */
export const SNAPSHOT_USD_PER_GB_MONTH = 0.05;

/** A NAT gateway, USD per hour in us-east-1, and per GB it processes. */
export const NAT_GATEWAY_USD_PER_HOUR = 0.045;
export const NAT_GATEWAY_USD_PER_GB = 0.045;

/** RDS storage of a Single-AZ DB instance, USD per GB-month in us-east-1 (Multi-AZ: twice). */
export const RDS_STORAGE_USD_PER_GB_MONTH: Readonly<Record<string, number>> = {
  gp2: 0.115,
  gp3: 0.115,
  io1: 0.125,
  io2: 0.125,
  standard: 0.1,
};

/** SageMaker ML storage (a notebook instance's volume), USD per GB-month in us-east-1. */
export const SAGEMAKER_STORAGE_USD_PER_GB_MONTH = 0.14;

/** Every public IPv4 address (in use or idle, Elastic or auto-assigned) costs this much per hour since 2024-02. */
export const PUBLIC_IPV4_USD_PER_HOUR = 0.005;

/** The hours AWS uses to turn monthly prices into hourly ones and back (365 * 24 / 12). */
export const HOURS_PER_MONTH = 730;

/** Days in an average month, to turn a measured daily rate into a monthly one (HOURS_PER_MONTH / 24, rounded). */
export const DAYS_PER_MONTH = 30.4;

/** Bytes in the GB that per-GB prices are quoted in (2^30). */
export const BYTES_PER_GB = 1024 ** 3;

/** The bundled table's price for a type in a region, labelled with where it came from. */
export function bundledPrice(instanceType: string, region: string): HourlyPrice {
  const usd = BUNDLED_HOURLY_USD[instanceType];
  if (usd === undefined) {
    return {
      instanceType,
      region,
      usdPerHour: null,
      source: 'bundled-table',
      estimate: true,
      note: `${instanceType} is not in the bundled price table; no estimate`,
    };
  }
  const approx = !SAME_AS_US_EAST_1.has(region);
  const family = instanceType.split('.')[0] ?? '';
  const rough = APPROXIMATE_FAMILIES.includes(family) ? `; ${family} figures are approximate` : '';
  return {
    instanceType,
    region,
    usdPerHour: usd,
    source: 'bundled-table',
    estimate: true,
    note: approx
      ? `bundled table (us-east-1 price as of ${BUNDLED_PRICES_AS_OF}, used as an approximation for ${region}${rough})`
      : `bundled table (as of ${BUNDLED_PRICES_AS_OF}${rough})`,
  };
}

/** USD per month for an EBS volume of `sizeGb` of `volumeType` (unknown types: gp2's price, labelled). */
export function ebsMonthlyUsd(volumeType: string, sizeGb: number): { usd: number; known: boolean } {
  const rate = EBS_USD_PER_GB_MONTH[volumeType];
  return { usd: round2(sizeGb * (rate ?? EBS_USD_PER_GB_MONTH.gp2 ?? 0.1)), known: rate !== undefined };
}

/** Cost of `hours` at `price` (null when the price is unknown). */
export function costOf(price: HourlyPrice | undefined, hours: number): number | null {
  if (!price || price.usdPerHour === null) return null;
  return price.usdPerHour * hours;
}

/** Short label for a price source, as printed next to figures: "price list" or "table". */
export function sourceLabel(source: PriceSource): string {
  return source === 'price-list-api' ? 'price list' : 'table';
}

/** Rounds to cents. */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Key of a price in the maps the jobs pass around. */
export function priceKey(instanceType: string, region: string): string {
  return `${region}/${instanceType}`;
}

/** Where hourly prices come from: the Price List API (src/aws/pricing.ts) or the bundled table. */
export interface Prices {
  /** The hourly on-demand Linux price of `instanceType` in `region`. Never throws. */
  hourly(instanceType: string, region: string): Promise<HourlyPrice>;
  /** Prices for many (type, region) pairs, keyed by priceKey(). */
  many(pairs: Iterable<{ instanceType: string; region: string }>): Promise<Map<string, HourlyPrice>>;
  /** Why the Price List API was given up on in this run, in full (for the log, never for an alert). */
  readonly apiError?: string | undefined;
}

/**
 * Prices from the bundled table only: no AWS call. The sweep uses it (keeping the Price List client out of its
 * bundle and its role); the digest and the launch guard ask the Price List API first.
 */
export class BundledPrices implements Prices {
  async hourly(instanceType: string, region: string): Promise<HourlyPrice> {
    return bundledPrice(instanceType, region);
  }

  async many(pairs: Iterable<{ instanceType: string; region: string }>): Promise<Map<string, HourlyPrice>> {
    const out = new Map<string, HourlyPrice>();
    for (const { instanceType, region } of pairs)
      out.set(priceKey(instanceType, region), bundledPrice(instanceType, region));
    return out;
  }
}
