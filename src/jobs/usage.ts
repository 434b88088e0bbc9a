import type { Prices } from '../core/prices.js';
import type { UsageStore } from '../aws/usage-store.js';
import type { EvaluateContext } from '../core/evaluate.js';
import type { Instance } from '../core/instance.js';
import type { Policy } from '../core/policy.js';
import type { Alert } from '../core/report.js';
import {
  type BudgetLevel,
  budgetCrossing,
  budgetStatus,
  monthBounds,
  renderBudgetAlert,
  type SweepUsage,
  sweepIntervalHours,
  usageSinceLastSweep,
} from '../core/usage.js';

/** This month's estimate before the sweep, as the budget rule's context. Null when no budget is set. */
export async function budgetContext(
  policy: Policy,
  now: Date,
  usage: Pick<UsageStore, 'monthEstimateUsd'>,
): Promise<{ estimateUsd: number; context: EvaluateContext } | null> {
  const limitUsd = policy.budget.monthlyUsd;
  if (limitUsd === null) return null;
  const estimateUsd = await usage.monthEstimateUsd(monthBounds(now).start, now);
  return { estimateUsd, context: { budget: { estimateUsd, limitUsd } } };
}

/** What recording one sweep's usage did. */
export interface UsageRecord {
  usage: SweepUsage;
  /** The month's estimate after this sweep (when the estimate before it was known). */
  estimateAfterUsd?: number;
  /** The budget threshold this sweep crossed, if any, and its alert. */
  crossing: BudgetLevel | null;
  alert?: Alert;
}

/**
 * After a sweep: adds the hours since the previous sweep (the sweep interval of policy.schedule) of every
 * running instance to the month ledger (SSM): instance-hours, free-tier hours and estimated dollars, per
 * owner too, attributed to the right month when the interval straddles the 1st. With a budget, returns the
 * alert when the month's estimate has just crossed 80% or 100% of it.
 */
export async function recordSweepUsage(options: {
  policy: Policy;
  now: Date;
  instances: readonly Instance[];
  stops: number;
  prices: Prices;
  usage: Pick<UsageStore, 'recordSweep'>;
  /** The month's estimate read before the sweep (budgetContext); absent = no budget check. */
  estimateBeforeUsd?: number;
}): Promise<UsageRecord> {
  const { policy, now, instances } = options;
  const prices = await options.prices.many(
    instances.map((i) => ({ instanceType: i.instanceType, region: i.region })),
  );
  const usage = usageSinceLastSweep(
    instances,
    prices,
    policy.tags.owner,
    sweepIntervalHours(policy.schedule),
    now,
  );
  return recordUsage({ ...options, usage, store: options.usage });
}

/**
 * Records a run's usage, already added up (the fan-out sums its targets' usage: src/core/fan-out.ts), in the month
 * ledger, and returns the budget alert when the month's estimate has just crossed 80% or 100% of the budget.
 */
export async function recordUsage(options: {
  policy: Policy;
  now: Date;
  usage: SweepUsage;
  stops: number;
  store: Pick<UsageStore, 'recordSweep'>;
  /** The month's estimate read before the run (budgetContext); absent = no budget check. */
  estimateBeforeUsd?: number;
}): Promise<UsageRecord> {
  const { policy, now, usage } = options;
  await options.store.recordSweep(usage, options.stops, now);

  const limit = policy.budget.monthlyUsd;
  if (limit === null || options.estimateBeforeUsd === undefined) return { usage, crossing: null };
  const thisMonth = monthBounds(now).start.toISOString();
  const added = usage.months.find((m) => m.month === thisMonth)?.estimatedUsd ?? 0;
  const before = options.estimateBeforeUsd;
  const after = before + added;
  const crossing = budgetCrossing(before, after, limit);
  if (!crossing) return { usage, estimateAfterUsd: after, crossing };
  const alert = renderBudgetAlert(
    crossing,
    budgetStatus(after, limit),
    policy.budget.action,
    now,
    usage.unpriced.length,
  );
  return { usage, estimateAfterUsd: after, crossing, alert };
}
