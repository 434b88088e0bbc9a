import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { NAMES } from '../core/names.js';
import {
  addSweep,
  emptyLedger,
  joinLedger,
  type MonthLedger,
  monthKey,
  ownerShardCount,
  splitLedger,
} from '../core/usage-ledger.js';
import type { DigestMonth } from '../core/digest.js';
import { monthBounds, type SweepUsage } from '../core/usage.js';

/** IAM actions this adapter uses, on the parameters under NAMES.usageParameterPrefix only. */
export const USAGE_STORE_PERMISSIONS = ['ssm:GetParameter', 'ssm:PutParameter'] as const;

/** Month-to-date sums read back for the digest and the budget guard. */
export type MonthTotals = DigestMonth;

/**
 * The watchdog's month counters in SSM Parameter Store standard parameters (free, up to 10,000 per account and
 * region; each at most 4 KB): `<prefix>YYYY-MM` holds the totals, `<prefix>YYYY-MM/owners-N` the hours and dollars
 * per owner, `<prefix>YYYY-MM/saved` the dollars saved per day (written by the digest only, so the sweep and the
 * digest never overwrite each other). Plain String parameters: no KMS.
 */
export class UsageStore {
  /** Parameter writes made (tests and the benchmark count them). */
  writes = 0;

  constructor(
    private readonly client: SSMClient,
    private readonly prefix: string = NAMES.usageParameterPrefix,
  ) {}

  /** Adds what one sweep ran to each month it touched; the stops count in the sweep's own month. */
  async recordSweep(usage: SweepUsage, stops: number, now: Date): Promise<void> {
    const own = monthKey(monthBounds(now).start.toISOString());
    const parts = usage.months.length > 0 ? usage.months : stops > 0 ? [emptyPart(now)] : [];
    for (const part of parts) {
      const month = monthKey(part.month);
      const ledger = await this.read(month);
      await this.write(addSweep(ledger, part, month === own ? stops : 0, now), ledger);
    }
  }

  /** Records the dollars saved by stops over the last day (the digest, once a day; a re-run replaces the day). */
  async recordSaved(usd: number, now: Date): Promise<void> {
    const month = monthKey(monthBounds(now).start.toISOString());
    const days = await this.savedDays(month);
    days[now.toISOString().slice(0, 10)] = Math.round(usd * 100) / 100;
    await this.put(`${this.prefix}${month}/saved`, JSON.stringify(days));
  }

  /** The month's estimated dollars so far (the budget guard's input). */
  async monthEstimateUsd(monthStart: Date, _now: Date): Promise<number> {
    const totals = await this.get(`${this.prefix}${monthKey(monthStart.toISOString())}`);
    return joinLedger('', totals, []).estimatedCostUsd;
  }

  /** Every counter of the month of `monthStart`, per owner too. */
  async monthTotals(monthStart: Date, _now: Date): Promise<MonthTotals> {
    const month = monthKey(monthStart.toISOString());
    const { freeTierHours, instanceHours, estimatedCostUsd, stops, byOwner, unpricedHours } = await this.read(month);
    const saved = Object.values(await this.savedDays(month)).reduce((s, v) => s + v, 0);
    return {
      freeTierHours,
      instanceHours,
      estimatedCostUsd,
      stops,
      dollarsSaved: saved,
      byOwner,
      ...((unpricedHours ?? 0) > 0 ? { unpricedHours: unpricedHours as number } : {}),
    };
  }

  private async read(month: string): Promise<MonthLedger> {
    const totals = await this.get(`${this.prefix}${month}`);
    if (totals === undefined) return emptyLedger(month);
    const shards = await Promise.all(
      Array.from({ length: ownerShardCount(totals) }, (_, k) => this.get(`${this.prefix}${month}/owners-${k + 1}`)),
    );
    return joinLedger(month, totals, shards);
  }

  /** Writes the owner shards that changed, then the totals (which name the shard count). */
  private async write(ledger: MonthLedger, before: MonthLedger): Promise<void> {
    if (ledger === before) return;
    const { totals, owners } = splitLedger(ledger);
    const previous = splitLedger(before).owners;
    for (const [k, shard] of owners.entries()) {
      if (previous[k] !== shard) await this.put(`${this.prefix}${ledger.month}/owners-${k + 1}`, shard);
    }
    await this.put(`${this.prefix}${ledger.month}`, totals);
  }

  private async savedDays(month: string): Promise<Record<string, number>> {
    const text = await this.get(`${this.prefix}${month}/saved`);
    if (text === undefined) return {};
    try {
      const v: unknown = JSON.parse(text);
      if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
      return Object.fromEntries(
        Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])),
      );
    } catch {
      return {};
    }
  }

  private async get(name: string): Promise<string | undefined> {
    try {
      const res = await this.client.send(new GetParameterCommand({ Name: name }));
      return res.Parameter?.Value;
    } catch (err) {
      if ((err as { name?: string })?.name === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  private async put(name: string, value: string): Promise<void> {
    await this.client.send(
      new PutParameterCommand({ Name: name, Value: value, Type: 'String', Tier: 'Standard', Overwrite: true }),
    );
    this.writes++;
  }
}

function emptyPart(now: Date): SweepUsage['months'][number] {
  return {
    month: monthBounds(now).start.toISOString(),
    at: now,
    instanceHours: 0,
    freeTierHours: 0,
    estimatedUsd: 0,
    byOwner: {},
  };
}
