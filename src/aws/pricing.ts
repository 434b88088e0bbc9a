import { type Filter, GetProductsCommand, type PricingClient } from '@aws-sdk/client-pricing';
import { describeError } from '../core/errors.js';
import { bundledPrice, type HourlyPrice } from '../core/prices.js';
import { type Prices, priceKey } from '../core/prices.js';

export { priceKey };

/** IAM actions this adapter uses. */
export const PRICING_PERMISSIONS = ['pricing:GetProducts'] as const;

/** The Price List Query API is served from us-east-1 (and a few others); the watchdog always asks us-east-1. */
export const PRICING_REGION = 'us-east-1';

/**
 * On-demand prices from the AWS Price List Query API (GetProducts in us-east-1), cached for the run. When
 * the API fails or is denied, the bundled table answers, and after the first such failure the API is not
 * asked again in this run. Every price says which source it came from.
 */
export class PriceLookup implements Prices {
  /** GetProducts calls made (tests count them). */
  calls = 0;
  /** Why the API was given up on in this run, if it was. */
  apiError: string | undefined;
  private readonly cache = new Map<string, Promise<HourlyPrice>>();

  /** `client` absent = bundled table only (the CLI's offline mode, tests). */
  constructor(private readonly client?: PricingClient) {}

  /** A lookup with an empty cache on the same client, for the next run (a warm Lambda container). */
  forRun(): PriceLookup {
    return new PriceLookup(this.client);
  }

  /** The hourly on-demand Linux price of `instanceType` in `region`. Never throws. */
  hourly(instanceType: string, region: string): Promise<HourlyPrice> {
    const key = `${region}/${instanceType}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.lookup(instanceType, region);
      this.cache.set(key, p);
    }
    return p;
  }

  /** Prices for many (type, region) pairs, keyed `region/type`. */
  async many(pairs: Iterable<{ instanceType: string; region: string }>): Promise<Map<string, HourlyPrice>> {
    const out = new Map<string, HourlyPrice>();
    for (const { instanceType, region } of pairs) {
      out.set(priceKey(instanceType, region), await this.hourly(instanceType, region));
    }
    return out;
  }

  private async lookup(instanceType: string, region: string): Promise<HourlyPrice> {
    if (!this.client || this.apiError !== undefined) return this.fallback(instanceType, region);
    try {
      this.calls++;
      const res = await this.client.send(
        new GetProductsCommand({
          ServiceCode: 'AmazonEC2',
          FormatVersion: 'aws_v1',
          MaxResults: 10,
          Filters: productFilters(instanceType, region),
        }),
      );
      const usd = lowestHourlyUsd(res.PriceList ?? []);
      if (usd !== null) {
        return {
          instanceType,
          region,
          usdPerHour: usd,
          source: 'price-list-api',
          estimate: true,
          note: 'AWS Price List API',
        };
      }
      // The API answered but has no such product (new type, typo, region without it): the table may know.
      return this.fallback(instanceType, region, 'not in the price list');
    } catch (err) {
      this.apiError = describeError(err).split('\n')[0];
      return this.fallback(instanceType, region);
    }
  }

  private fallback(instanceType: string, region: string, why?: string): HourlyPrice {
    const p = bundledPrice(instanceType, region);
    // What people read: never the exception text (a parser's SyntaxError, an encoded authorization message);
    // `apiError` keeps it for the log.
    const reason = why ?? (this.apiError !== undefined ? 'price list unavailable' : undefined);
    if (reason === undefined) return p;
    return p.usdPerHour === null
      ? { ...p, note: `${reason}; ${p.note}` }
      : { ...p, note: `${reason}, table price used: ${p.note}` };
  }
}

/** The GetProducts filters for one Linux, shared-tenancy, on-demand instance type in one region. */
export function productFilters(instanceType: string, region: string): Filter[] {
  const term = (Field: string, Value: string): Filter => ({ Type: 'TERM_MATCH', Field, Value });
  return [
    term('instanceType', instanceType),
    term('regionCode', region),
    term('operatingSystem', 'Linux'),
    term('tenancy', 'Shared'),
    term('preInstalledSw', 'NA'),
    term('capacitystatus', 'Used'),
  ];
}

interface PriceListProduct {
  terms?: {
    OnDemand?: Record<
      string,
      { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }
    >;
  };
}

/**
 * The lowest non-zero hourly USD on-demand price in GetProducts' PriceList (JSON documents as strings), or
 * null when there is none. Zero-priced dimensions (reservation placeholders) are skipped.
 */
export function lowestHourlyUsd(priceList: readonly unknown[]): number | null {
  let best: number | null = null;
  for (const item of priceList) {
    let product: PriceListProduct;
    try {
      product = (typeof item === 'string' ? JSON.parse(item) : JSON.parse(String(item))) as PriceListProduct;
    } catch {
      continue;
    }
    for (const term of Object.values(product.terms?.OnDemand ?? {})) {
      for (const dim of Object.values(term.priceDimensions ?? {})) {
        if (dim.unit !== 'Hrs') continue;
        const usd = Number(dim.pricePerUnit?.USD);
        if (Number.isFinite(usd) && usd > 0 && (best === null || usd < best)) best = usd;
      }
    }
  }
  return best;
}
