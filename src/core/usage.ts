/**
 * Instance-hour accounting per calendar month (UTC, as AWS bills): what each sweep adds to the month's
 * counters, how a sweep interval that straddles midnight on the 1st is split between the two months, the
 * projection to the month's end, and the budget thresholds. Pure: the clock is an argument.
 */
import type { Instance } from './instance.js';
import { costOf, type HourlyPrice } from './prices.js';
import type { Alert } from './report.js';

/** Free instance-hours per month on the legacy (pre-2025-07-15) AWS Free Tier: 750 h of t2/t3.micro. */
export const FREE_TIER_HOURS_PER_MONTH = 750;

/** Share of the monthly budget at which the first budget alert goes out. */
export const BUDGET_WARN_SHARE = 0.8;

/** Start of the UTC calendar month containing `at`, and the start of the next one. */
export function monthBounds(at: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}

/**
 * Hours between two sweeps for an EventBridge schedule. `rate(N unit)` exactly; `cron(min hour ...)` from
 * how many times a day its minute and hour fields fire (day-of-month/week restrictions are ignored, so a
 * weekday-only cron counts as daily).
 */
export function sweepIntervalHours(schedule: string): number {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(schedule.trim());
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? 'hour';
    return unit.startsWith('minute') ? n / 60 : unit.startsWith('hour') ? n : n * 24;
  }
  const cron = /^cron\((\S+) (\S+) /.exec(schedule.trim());
  if (cron) {
    const perHour = fieldCount(cron[1] ?? '0', 60);
    const hoursPerDay = fieldCount(cron[2] ?? '0', 24);
    const runsPerDay = Math.max(1, perHour * hoursPerDay);
    return 24 / runsPerDay;
  }
  return 1;
}

/** How many values a cron field takes in 0..size-1 ("*", "*\/N", "a-b", "a,b,c", "a-b/N"). */
function fieldCount(field: string, size: number): number {
  let count = 0;
  for (const part of field.split(',')) {
    const [range = '*', stepText] = part.split('/');
    const step = stepText ? Math.max(1, Number(stepText) || 1) : 1;
    let from = 0;
    let to = size - 1;
    if (range !== '*' && range !== '?') {
      const [a, b] = range.split('-');
      from = Number(a);
      to = b !== undefined ? Number(b) : stepText ? size - 1 : from;
    }
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) continue;
    count += Math.floor((to - from) / step) + 1;
  }
  return Math.max(1, Math.min(size, count));
}

/** Hours attributed to one calendar month: the month's start (UTC ISO) and the hours. */
export interface MonthHours {
  month: string;
  /** A time inside that month at which the datapoint is recorded (the sweep time, or the month's last ms). */
  at: Date;
  hours: number;
}

/**
 * Splits the interval (now - hours, now] at the month boundary, so hours before midnight on the 1st count
 * for the month that ended. Returns one entry per month touched, the older first; zero hours = empty list.
 */
export function splitByMonth(now: Date, hours: number): MonthHours[] {
  if (!(hours > 0)) return [];
  const from = now.getTime() - hours * 3_600_000;
  const out: MonthHours[] = [];
  let end = now.getTime();
  let atMs = end;
  while (end > from) {
    const { start } = monthBounds(new Date(atMs));
    const segStart = Math.max(from, start.getTime());
    out.unshift({ month: start.toISOString(), at: new Date(atMs), hours: (end - segStart) / 3_600_000 });
    end = start.getTime();
    atMs = end - 1;
  }
  return out;
}

/** What one sweep adds to the month counters: instance-hours, free-tier hours and estimated dollars. */
export interface SweepUsage {
  /** One entry per month touched (a sweep just after midnight on the 1st touches two). */
  months: {
    month: string;
    at: Date;
    instanceHours: number;
    freeTierHours: number;
    estimatedUsd: number;
    /** Hours of instances without a price: counted in instanceHours, left out of estimatedUsd. */
    unpricedHours?: number;
    /** Per owner (the owner tag; "(no owner)" when missing). */
    byOwner: Record<string, { hours: number; usd: number }>;
  }[];
  instancesRunning: number;
  /** Instances whose price is unknown: their hours count, their dollars do not. */
  unpriced: string[];
}

/** The owner name used for instances without the owner tag. */
export const NO_OWNER = '(no owner)';

/**
 * The hours since the previous sweep that each running instance ran (at most `intervalHours`, at most its
 * time since launch), attributed to the month they fell in, with free-tier-eligible hours counted apart and
 * dollars at each instance's estimated price. Prices are keyed `region/type`.
 */
export function usageSinceLastSweep(
  instances: readonly Instance[],
  prices: ReadonlyMap<string, HourlyPrice>,
  ownerTag: string,
  intervalHours: number,
  now: Date,
): SweepUsage {
  const months = new Map<string, SweepUsage['months'][number]>();
  const unpriced: string[] = [];
  // Most instances ran the whole interval: the month split of each distinct number of hours is worked out once.
  const splits = new Map<number, MonthHours[]>();
  for (const i of instances) {
    const launchMs = Date.parse(i.launchTime);
    const sinceLaunch = Number.isFinite(launchMs)
      ? Math.max(0, (now.getTime() - launchMs) / 3_600_000)
      : intervalHours;
    const hours = Math.min(intervalHours, sinceLaunch);
    const price = prices.get(`${i.region}/${i.instanceType}`);
    if (!price || price.usdPerHour === null) unpriced.push(i.instanceId);
    const owner = i.tags[ownerTag] ?? NO_OWNER;
    let split = splits.get(hours);
    if (!split) {
      split = splitByMonth(now, hours);
      splits.set(hours, split);
    }
    for (const part of split) {
      let m = months.get(part.month);
      if (!m) {
        m = {
          month: part.month,
          at: part.at,
          instanceHours: 0,
          freeTierHours: 0,
          estimatedUsd: 0,
          unpricedHours: 0,
          byOwner: {},
        };
        months.set(part.month, m);
      }
      const cost = costOf(price, part.hours);
      // An unknown price is unknown, never $0: its hours are counted apart and said to be left out.
      const usd = cost ?? 0;
      if (cost === null) m.unpricedHours = (m.unpricedHours ?? 0) + part.hours;
      m.instanceHours += part.hours;
      if (i.typeInfo?.freeTierEligible === true) m.freeTierHours += part.hours;
      m.estimatedUsd += usd;
      const o = m.byOwner[owner] ?? { hours: 0, usd: 0 };
      o.hours += part.hours;
      o.usd += usd;
      m.byOwner[owner] = o;
    }
  }
  return {
    months: [...months.values()].sort((a, b) => a.month.localeCompare(b.month)),
    instancesRunning: instances.length,
    unpriced,
  };
}

/** Free-tier hours used this month against the allowance, projected to the month's end. */
export interface FreeTierStatus {
  month: string;
  usedHours: number;
  allowanceHours: number;
  /** Straight-line: the rate so far continued to the month's end. */
  projectedHours: number;
  /** Hours used plus the free-tier instances running now kept running to the month's end. */
  projectedIfLeftRunning: number;
  /** The projection passes the allowance. */
  overAllowance: boolean;
}

/** Free-tier hours used, allowance and projections at `now`, given the free-tier instances running now. */
export function freeTierStatus(usedHours: number, runningFreeTier: number, now: Date): FreeTierStatus {
  const { start, end } = monthBounds(now);
  const elapsed = (now.getTime() - start.getTime()) / 3_600_000;
  const total = (end.getTime() - start.getTime()) / 3_600_000;
  const remaining = total - elapsed;
  const projectedHours = elapsed > 0 ? (usedHours * total) / elapsed : usedHours;
  const projectedIfLeftRunning = usedHours + runningFreeTier * remaining;
  return {
    month: start.toISOString().slice(0, 7),
    usedHours: round1(usedHours),
    allowanceHours: FREE_TIER_HOURS_PER_MONTH,
    projectedHours: round1(projectedHours),
    projectedIfLeftRunning: round1(projectedIfLeftRunning),
    overAllowance: Math.max(projectedHours, projectedIfLeftRunning) > FREE_TIER_HOURS_PER_MONTH,
  };
}

/** Straight-line projection of a month-to-date amount to the end of the month. */
export function projectToMonthEnd(amountSoFar: number, now: Date): number {
  const { start, end } = monthBounds(now);
  const elapsed = now.getTime() - start.getTime();
  if (elapsed <= 0) return amountSoFar;
  return (amountSoFar * (end.getTime() - start.getTime())) / elapsed;
}

/** A budget threshold: 80% of the monthly budget, or the budget itself. */
export type BudgetLevel = 'warning' | 'exceeded';

/** Where this month's estimate stands against the budget. */
export interface BudgetStatus {
  limitUsd: number;
  estimateUsd: number;
  share: number;
  level: BudgetLevel | null;
}

/** The budget level reached by an estimate (null = under 80%). */
export function budgetStatus(estimateUsd: number, limitUsd: number): BudgetStatus {
  const share = limitUsd > 0 ? estimateUsd / limitUsd : 0;
  const level: BudgetLevel | null = share >= 1 ? 'exceeded' : share >= BUDGET_WARN_SHARE ? 'warning' : null;
  return { limitUsd, estimateUsd: round2(estimateUsd), share: Math.round(share * 1000) / 1000, level };
}

/**
 * The threshold the estimate crossed between the previous sweep and this one, or null. Comparing before and
 * after means each alert goes out once per month without remembering anything: 80% first, then 100%.
 */
export function budgetCrossing(beforeUsd: number, afterUsd: number, limitUsd: number): BudgetLevel | null {
  const before = budgetStatus(beforeUsd, limitUsd).level;
  const after = budgetStatus(afterUsd, limitUsd).level;
  if (after === before || after === null) return null;
  if (before === 'exceeded') return null;
  return after;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * The budget alert sent when this month's estimate crosses 80% or 100% of budget.monthlyUsd. `unpriced`: running
 * instances without a price, which the estimate leaves out (said, never counted as $0).
 */
export function renderBudgetAlert(
  level: BudgetLevel,
  status: BudgetStatus,
  action: 'notify' | 'stop',
  now: Date,
  unpriced = 0,
): Alert {
  const pct = Math.round(status.share * 100);
  const projected = round2(projectToMonthEnd(status.estimateUsd, now));
  const next =
    action === 'stop'
      ? level === 'exceeded'
        ? 'budget.action is stop: every running instance that is not exempt or protected is warned now and stopped after the grace period (rule over-budget).'
        : 'budget.action is stop: at 100% every running instance that is not exempt or protected will be warned, then stopped after the grace period.'
      : 'budget.action is notify: nothing is stopped because of the budget.';
  const text = [
    `This month's estimated EC2 cost is $${status.estimateUsd.toFixed(2)}, ${pct}% of the budget of $${status.limitUsd.toFixed(2)} (budget.monthlyUsd).`,
    `At this rate the month ends near $${projected.toFixed(2)}.`,
    '',
    next,
    '',
    'The estimate is the sum of the hours each sweep saw instances running, times their on-demand list prices',
    '(AWS Price List API, or the bundled table when it is unavailable); it is not your bill.',
    ...(unpriced > 0
      ? [
          `${unpriced} running instance${unpriced === 1 ? '' : 's'} without a price ${unpriced === 1 ? 'is' : 'are'} not included: the real cost is higher.`,
        ]
      : []),
  ].join('\n');
  return {
    subject: `cost-watchdog: budget ${level === 'exceeded' ? 'exceeded' : `${pct}% used`} ($${status.estimateUsd.toFixed(2)} of $${status.limitUsd.toFixed(2)})`,
    text,
    data: {
      kind: 'cost-watchdog/budget',
      ...status,
      level,
      projectedUsd: projected,
      action,
      ...(unpriced > 0 ? { unpricedInstances: unpriced } : {}),
      at: now.toISOString(),
    },
  };
}
