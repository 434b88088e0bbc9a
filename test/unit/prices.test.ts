import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lowestHourlyUsd, PriceLookup, productFilters } from '../../src/aws/pricing.js';
import {
  BUNDLED_HOURLY_USD,
  BUNDLED_PRICES_AS_OF,
  bundledPrice,
  ebsMonthlyUsd,
} from '../../src/core/prices.js';

const pricing = mockClient(PricingClient);

/** One GetProducts PriceList entry as the API returns it: a JSON document as a string. */
function product(usd: string, unit = 'Hrs'): string {
  return JSON.stringify({
    product: { attributes: { instanceType: 't3.large', regionCode: 'eu-west-1' } },
    terms: {
      OnDemand: {
        'ABC.JRTCKXETXF': {
          priceDimensions: { 'ABC.JRTCKXETXF.6YS6EN2CT7': { unit, pricePerUnit: { USD: usd } } },
        },
      },
    },
  });
}

function accessDenied(): Error {
  return Object.assign(new Error('User is not authorized to perform: pricing:GetProducts'), {
    name: 'AccessDeniedException',
  });
}

beforeEach(() => {
  pricing.reset();
});

describe('price lookup through the Price List API', () => {
  it('asks for the Linux, shared-tenancy, on-demand product of the type in the region, and labels the answer', async () => {
    // Prepare
    pricing.on(GetProductsCommand).resolves({ PriceList: [product('0.0912000000')] });
    const lookup = new PriceLookup(new PricingClient({ region: 'us-east-1' }));

    // Act
    const price = await lookup.hourly('t3.large', 'eu-west-1');

    // Assess
    expect(price).toMatchObject({ usdPerHour: 0.0912, source: 'price-list-api', estimate: true });
    expect(pricing).toHaveReceivedCommandWith(GetProductsCommand, {
      ServiceCode: 'AmazonEC2',
      Filters: productFilters('t3.large', 'eu-west-1'),
    });
    expect(productFilters('t3.large', 'eu-west-1').map((f) => [f.Field, f.Value])).toEqual([
      ['instanceType', 't3.large'],
      ['regionCode', 'eu-west-1'],
      ['operatingSystem', 'Linux'],
      ['tenancy', 'Shared'],
      ['preInstalledSw', 'NA'],
      ['capacitystatus', 'Used'],
    ]);
  });

  it('asks once per type and region in a run (cached)', async () => {
    // Prepare
    pricing.on(GetProductsCommand).resolves({ PriceList: [product('0.0832')] });
    const lookup = new PriceLookup(new PricingClient({ region: 'us-east-1' }));

    // Act
    await Promise.all([lookup.hourly('t3.large', 'us-east-1'), lookup.hourly('t3.large', 'us-east-1')]);
    await lookup.hourly('t3.large', 'us-east-1');

    // Assess
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 1);
    expect(lookup.calls).toBe(1);
  });

  it('starts each run with an empty cache', async () => {
    // Prepare
    pricing.on(GetProductsCommand).resolves({ PriceList: [product('0.0832')] });
    const first = new PriceLookup(new PricingClient({ region: 'us-east-1' }));
    await first.hourly('t3.large', 'us-east-1');

    // Act
    await first.forRun().hourly('t3.large', 'us-east-1');

    // Assess
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 2);
  });
});

describe('price lookup fallback to the bundled table', () => {
  it('answers from the bundled table when the API is denied, says so, and stops asking the API', async () => {
    // Prepare
    pricing.on(GetProductsCommand).rejects(accessDenied());
    const lookup = new PriceLookup(new PricingClient({ region: 'us-east-1' }));

    // Act
    const large = await lookup.hourly('t3.large', 'us-east-1');
    const micro = await lookup.hourly('t3.micro', 'us-east-1');

    // Assess
    expect(large).toMatchObject({ usdPerHour: 0.0832, source: 'bundled-table', estimate: true });
    expect(large.note).toMatch(/^price list unavailable, table price used: bundled table/);
    expect(large.note).not.toContain('AccessDenied');
    expect(lookup.apiError).toContain('AccessDeniedException');
    expect(micro).toMatchObject({ usdPerHour: 0.0104, source: 'bundled-table' });
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 1);
  });

  it('answers from the bundled table when the API has no such product', async () => {
    // Prepare
    pricing.on(GetProductsCommand).resolves({ PriceList: [] });
    const lookup = new PriceLookup(new PricingClient({ region: 'us-east-1' }));

    // Act
    const price = await lookup.hourly('g4dn.xlarge', 'us-east-1');

    // Assess
    expect(price).toMatchObject({ usdPerHour: 0.526, source: 'bundled-table' });
    expect(price.note).toMatch(/^not in the price list, table price used: bundled table/);
  });

  it('has no price, and says so, for a type neither source knows', async () => {
    // Prepare
    pricing.on(GetProductsCommand).resolves({ PriceList: [] });
    const lookup = new PriceLookup(new PricingClient({ region: 'us-east-1' }));

    // Act
    const price = await lookup.hourly('x9z.mega', 'us-east-1');

    // Assess
    expect(price).toMatchObject({ usdPerHour: null, source: 'bundled-table', estimate: true });
  });

  it('uses only the table without a client (offline)', async () => {
    // Act
    const price = await new PriceLookup().hourly('p3.2xlarge', 'us-east-1');

    // Assess
    expect(price).toMatchObject({ usdPerHour: 3.06, source: 'bundled-table' });
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 0);
  });

  it.each([
    ['us-east-1', false],
    ['us-west-2', false],
    ['eu-west-1', true],
  ])('labels a table price in %s as an approximation: %s', (region, approx) => {
    // Act
    const price = bundledPrice('t3.micro', region);

    // Assess
    expect(price.usdPerHour).toBe(0.0104);
    expect(price.note?.includes('approximation')).toBe(approx);
  });

  /** Every current-generation family the table must cover, with its sizes up to 2xlarge. */
  const SMALL = ['nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge'];
  const GRAVITON = ['medium', 'large', 'xlarge', '2xlarge'];
  const X86 = ['large', 'xlarge', '2xlarge'];
  const GPU = ['xlarge', '2xlarge'];
  const FAMILIES: [string, string[]][] = [
    ...['t2', 't3', 't3a', 't4g'].map((f): [string, string[]] => [f, SMALL]),
    ...['m5', 'm5a', 'm6i', 'm6a', 'm7i', 'm7i-flex'].map((f): [string, string[]] => [f, X86]),
    ...['m6g', 'm7g', 'm7a', 'm8g'].map((f): [string, string[]] => [f, GRAVITON]),
    ...['c5', 'c5a', 'c6i', 'c6a', 'c7i', 'c7i-flex'].map((f): [string, string[]] => [f, X86]),
    ...['c6g', 'c7g', 'c7a', 'c8g'].map((f): [string, string[]] => [f, GRAVITON]),
    ...['r5', 'r5a', 'r6i', 'r6a', 'r7i'].map((f): [string, string[]] => [f, X86]),
    ...['r6g', 'r7g', 'r7a', 'r8g'].map((f): [string, string[]] => [f, GRAVITON]),
    ...['g4dn', 'g4ad', 'g5', 'g5g', 'g6', 'g6e'].map((f): [string, string[]] => [f, GPU]),
    ['p3', ['2xlarge']],
  ];

  it.each(FAMILIES)('covers %s in every size up to 2xlarge', (family, sizes) => {
    for (const size of sizes) {
      expect(BUNDLED_HOURLY_USD[`${family}.${size}`], `${family}.${size}`).toBeGreaterThan(0);
    }
  });

  it.each(FAMILIES.filter(([f]) => !/^[gp]/.test(f)))(
    'prices each %s size at twice the one below it (catches a mistyped figure)',
    (family) => {
      const sizes = SMALL.concat('4xlarge').filter((s) => BUNDLED_HOURLY_USD[`${family}.${s}`] !== undefined);
      for (let k = 1; k < sizes.length; k++) {
        const below = BUNDLED_HOURLY_USD[`${family}.${sizes[k - 1]}`] as number;
        const here = BUNDLED_HOURLY_USD[`${family}.${sizes[k]}`] as number;
        expect(here / below, `${family}.${sizes[k]}`).toBeCloseTo(2, 1);
      }
    },
  );

  it('has the figures the docs quote (us-east-1 list prices)', () => {
    expect(BUNDLED_HOURLY_USD).toMatchObject({
      't3.micro': 0.0104,
      'm7g.large': 0.0816,
      'r6i.large': 0.126,
      'c6g.large': 0.068,
      'g4dn.xlarge': 0.526,
      'g5.xlarge': 1.006,
      'g6.xlarge': 0.8048,
      'p3.2xlarge': 3.06,
    });
  });

  it('says when a figure is an approximation, and knows no price for a type it lacks', () => {
    expect(bundledPrice('r8g.large', 'us-east-1').note).toContain('r8g figures are approximate');
    expect(bundledPrice('r6i.large', 'us-east-1').note).toBe(`bundled table (as of ${BUNDLED_PRICES_AS_OF})`);
    expect(bundledPrice('x9z.mega', 'us-east-1').usdPerHour).toBeNull();
  });
});

describe('reading GetProducts price lists', () => {
  it.each([
    ['one hourly price', [product('0.0832')], 0.0832],
    ['the lowest of several', [product('0.1'), product('0.09')], 0.09],
    ['zero-priced placeholders skipped', [product('0.0000000000'), product('0.05')], 0.05],
    ['non-hourly units skipped', [product('12', 'Quantity')], null],
    ['unparseable entries skipped', ['not json', product('0.2')], 0.2],
    ['an empty list', [], null],
  ])('finds %s', (_name, list, expected) => {
    expect(lowestHourlyUsd(list)).toBe(expected);
  });
});

describe('other list prices', () => {
  it.each([
    ['gp3', 100, 8, true],
    ['gp2', 8, 0.8, true],
    ['io9', 10, 1, false],
  ])('prices an unattached %s volume of %i GB at $%s a month (known type: %s)', (type, gb, usd, known) => {
    expect(ebsMonthlyUsd(type, gb)).toEqual({ usd, known });
  });
});
