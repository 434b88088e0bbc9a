/**
 * The watchdog's month counters (instance-hours, free-tier hours, estimated dollars, stops, dollars saved, and
 * hours and dollars per owner) as a small JSON ledger per month. It lives in SSM Parameter Store standard
 * parameters (free: no custom CloudWatch metric per owner, docs/costs.md), split into parameters of at most
 * 4 KB. Pure: building, adding to and splitting a ledger.
 */
import type { DigestMonth } from './digest.js';
import { cleanLine, TEXT_CAPS } from './text.js';
import { NO_OWNER, type SweepUsage } from './usage.js';

/** An owner as the ledger keys it: cleaned text, a blank owner is no owner. */
export function ledgerOwner(owner: string): string {
  const clean = cleanLine(owner, TEXT_CAPS.tagValue).trim();
  return clean === '' ? NO_OWNER : clean;
}

/** One month's counters. `month` is its UTC start as YYYY-MM. */
export interface MonthLedger extends DigestMonth {
  month: string;
  /** Sweeps recorded (a re-run of the same sweep time is not counted twice). */
  sweeps: number;
  /** The sweep times recorded last, newest first (at most a few), to refuse recording one run twice. */
  recent: string[];
}

/** Standard parameters hold at most 4,096 characters; the ledger leaves room for the JSON around the shards. */
export const LEDGER_SHARD_CHARS = 3_800;

/** An empty ledger for `month` (YYYY-MM). */
export function emptyLedger(month: string): MonthLedger {
  return {
    month,
    sweeps: 0,
    recent: [],
    freeTierHours: 0,
    instanceHours: 0,
    estimatedCostUsd: 0,
    stops: 0,
    dollarsSaved: 0,
    byOwner: {},
  };
}

/** YYYY-MM of a month start given as an ISO time. */
export function monthKey(monthStartIso: string): string {
  return monthStartIso.slice(0, 7);
}

/**
 * Adds one sweep's share of a month to its ledger (a new object). A sweep already recorded at the same time
 * (`at`) is not added again; `stops` count only towards the month of the sweep itself.
 */
export function addSweep(
  ledger: MonthLedger,
  part: SweepUsage['months'][number],
  stops: number,
  sweepAt: Date,
): MonthLedger {
  const stamp = sweepAt.toISOString();
  if (ledger.recent.includes(stamp)) return ledger;
  const byOwner = { ...ledger.byOwner };
  for (const [name, o] of Object.entries(part.byOwner)) {
    const owner = ledgerOwner(name);
    const sum = byOwner[owner] ?? { hours: 0, usd: 0 };
    byOwner[owner] = { hours: round4(sum.hours + o.hours), usd: round4(sum.usd + o.usd) };
  }
  return {
    ...ledger,
    sweeps: ledger.sweeps + 1,
    recent: [stamp, ...ledger.recent].slice(0, 5),
    freeTierHours: round4(ledger.freeTierHours + part.freeTierHours),
    instanceHours: round4(ledger.instanceHours + part.instanceHours),
    estimatedCostUsd: round4(ledger.estimatedCostUsd + part.estimatedUsd),
    stops: ledger.stops + stops,
    byOwner,
    ...((ledger.unpricedHours ?? 0) + (part.unpricedHours ?? 0) > 0
      ? { unpricedHours: round4((ledger.unpricedHours ?? 0) + (part.unpricedHours ?? 0)) }
      : {}),
  };
}

/** The ledger as parameter values: the totals first, then the owners in shards that each fit a parameter. */
export function splitLedger(ledger: MonthLedger): { totals: string; owners: string[] } {
  const entries = Object.entries(ledger.byOwner).sort(([a], [b]) => a.localeCompare(b));
  const owners: string[] = [];
  let shard: Record<string, [number, number]> = {};
  for (const [owner, o] of entries) {
    const next = { ...shard, [owner]: [o.hours, o.usd] as [number, number] };
    if (JSON.stringify(next).length > LEDGER_SHARD_CHARS && Object.keys(shard).length > 0) {
      owners.push(JSON.stringify(shard));
      shard = { [owner]: [o.hours, o.usd] };
    } else {
      shard = next;
    }
  }
  if (Object.keys(shard).length > 0) owners.push(JSON.stringify(shard));
  const { byOwner: _owners, ...totals } = ledger;
  return { totals: JSON.stringify({ ...totals, ownerShards: owners.length }), owners };
}

/** Reads a ledger back from its parameter values (missing or malformed values count as empty). */
export function joinLedger(month: string, totals: string | undefined, owners: (string | undefined)[]): MonthLedger {
  const out = emptyLedger(month);
  const t = parse(totals);
  if (t) {
    for (const key of [
      'sweeps',
      'freeTierHours',
      'instanceHours',
      'estimatedCostUsd',
      'stops',
      'dollarsSaved',
      'unpricedHours',
    ] as const) {
      const v = t[key];
      if (typeof v === 'number' && Number.isFinite(v)) out[key] = v;
    }
    if (Array.isArray(t.recent)) out.recent = t.recent.filter((r): r is string => typeof r === 'string').slice(0, 5);
  }
  for (const shard of owners) {
    const s = parse(shard);
    if (!s) continue;
    for (const [name, v] of Object.entries(s)) {
      if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'number') continue;
      // The parameter is text anyone with SSM access could have edited: names are cleaned as they enter.
      const owner = ledgerOwner(name);
      const sum = out.byOwner[owner] ?? { hours: 0, usd: 0 };
      out.byOwner[owner] = { hours: sum.hours + v[0], usd: sum.usd + v[1] };
    }
  }
  return out;
}

/** How many owner shards the totals say there are (0 when unknown). */
export function ownerShardCount(totals: string | undefined): number {
  const n = parse(totals)?.ownerShards;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 1000 ? n : 0;
}

function parse(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
