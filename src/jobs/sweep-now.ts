import type { AwsTarget } from '../aws/clients.js';
import type { SweepServices } from '../aws/services.js';
import type { SigningKeyStore } from '../aws/signing-key.js';
import type { UsageStore } from '../aws/usage-store.js';
import { describeError } from '../core/errors.js';
import type { Instance, InstanceMetrics } from '../core/instance.js';
import { kindOf } from '../core/kinds.js';
import type { Policy } from '../core/policy.js';
import type { AlertSink } from '../core/ports.js';
import type { Prices } from '../core/prices.js';
import type { RunError, SweepReport } from '../core/report.js';
import { renderMorningStartAlerts } from '../core/morning-start.js';
import { FAN_OUT_RESOLVE_CONCURRENCY, fanOutWanted } from '../core/fan-out.js';
import { actionLinksOption } from './action-links.js';
import { type FanOutDeps, runFanOut } from './fan-out.js';
import { runMorningStart } from './morning-start.js';
import { runSweep } from './sweep.js';
import { resolveTargets } from './targets.js';
import { budgetContext, recordSweepUsage } from './usage.js';

export { SweepIncompleteError, type SweepSummary, summarize } from './sweep-summary.js';

/** The watchdog's own monthly figures: read for the budget rule, written after each real sweep. */
export interface SweepUsageStore {
  prices: Prices;
  usage: Pick<UsageStore, 'recordSweep' | 'monthEstimateUsd'>;
}

/** Where keep / stop links point and what signs them. */
export interface SweepLinkSigning {
  actionsUrl: string;
  /** The stack's account: only its instances get links. */
  account: string;
  keys: Pick<SigningKeyStore, 'readOrCreate'>;
}

/** What a sweep of an account needs: the same for the scheduled function and the CLI. */
export interface SweepJobDeps {
  policy: Policy;
  /** The home account and region (and the endpoint of an emulator). */
  home: AwsTarget;
  services: SweepServices;
  /** Where alerts go; absent = none are sent (plan). */
  alerts?: AlertSink;
  /** The budget rule's month estimate and the usage record; absent = neither (no budget rule, nothing recorded). */
  usage?: SweepUsageStore;
  /** Keep / stop links in warnings; absent = warnings without links. */
  links?: SweepLinkSigning;
  /**
   * The fan-out's queues, built on first use; absent = the stack has none (a class in one account, the CLI): every
   * run sweeps its targets itself. Present, a run fans out when the policy's fanOut says so (src/core/fan-out.ts).
   */
  fanOut?: () => Promise<FanOutDeps>;
}

/** One run's inputs: the clock, a dry run, and (CLI --region) fewer regions than the policy names. */
export interface SweepJobOptions {
  now: Date;
  dryRun?: boolean;
  regions?: string[];
  /** Receives each instance and its metrics (snapshot). */
  onObserved?: (instance: Instance, metrics: InstanceMetrics | undefined) => void;
  /** Read every metric series (snapshot), not CPU first. */
  fullMetrics?: boolean;
  /**
   * A run besides the policy's schedule (quiet hours' runs at the windows' edges): everything as usual but no usage
   * recorded, since each run of the schedule counts the hours of one interval of it.
   */
  extraRun?: boolean;
}

/**
 * One sweep of the account, as the scheduled function and `cost-watchdog plan` / `sweep` all run it: resolves
 * the targets (accounts x regions), reads this month's estimate for the budget rule, evaluates and enforces
 * (runSweep), signs keep / stop links for new warnings, sends the alerts, starts again what quiet hours stopped (with
 * quietHours.morningStart), and records the hours and dollars of the run with the budget alert it crosses. A dry
 * run reads everything and changes, sends and records nothing. Failures of the budget read or the usage write are
 * errors in the report; the sweep itself goes on.
 */
export async function sweepNow(deps: SweepJobDeps, options: SweepJobOptions): Promise<SweepReport> {
  const { policy, services, usage, links, alerts } = deps;
  const { now } = options;
  const extraErrors: RunError[] = [];
  // A run narrowed down or asked to be dry (the CLI) never fans out.
  const fanOut = options.dryRun || options.regions ? undefined : deps.fanOut;
  // The month's estimate is read while the regions are found (DescribeRegions): neither waits for the other.
  const [targets, budget] = await Promise.all([
    resolveTargets(
      policy,
      deps.home,
      services,
      options.regions,
      fanOut ? Math.max(policy.concurrency, FAN_OUT_RESOLVE_CONCURRENCY) : policy.concurrency,
    ),
    usage
      ? budgetContext(policy, now, usage.usage).catch((err: unknown) => {
          extraErrors.push({
            region: deps.home.region,
            operation: 'cloudwatch:GetMetricData (budget)',
            message: describeError(err),
          });
          return null;
        })
      : null,
  ]);
  if (fanOut && fanOutWanted(policy, targets.length, true)) {
    // One message per target to the sweep-worker function; this invocation sends the summary (src/jobs/fan-out.ts).
    const report = await runFanOut(deps, await fanOut(), {
      targets,
      budget,
      now,
      extraRun: options.extraRun === true,
    });
    report.errors.push(...extraErrors);
    return report;
  }
  const observed: Instance[] = [];
  const report = await runSweep({
    policy,
    now,
    targets,
    services,
    homeRegion: deps.home.region,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.fullMetrics ? { fullMetrics: true } : {}),
    ...(alerts ? { publish: (a) => alerts.publish(a) } : {}),
    onObserved: (instance, metrics) => {
      // The month ledger counts EC2 instance-hours against EC2's free tier and prices: notebooks and databases
      // have allowances and prices of their own (docs/notebooks-and-databases.md).
      if (kindOf(instance) === 'ec2') observed.push(instance);
      options.onObserved?.(instance, metrics);
    },
    ...(budget ? { context: budget.context } : {}),
    ...actionLinksOption(links, policy, now),
  });
  if (policy.quietHours.morningStart) {
    // After the sweep: start again what quiet hours stopped, once their period has ended (docs/quiet-hours.md).
    const started = await runMorningStart({ policy, now, targets, services, dryRun: report.dryRun });
    report.morningStart = started.report;
    extraErrors.push(...started.errors);
    if (!report.dryRun && alerts) {
      for (const alert of renderMorningStartAlerts(started.report, policy, now)) {
        try {
          await alerts.publish(alert);
          report.alertsSent++;
        } catch (err) {
          extraErrors.push({
            region: deps.home.region,
            operation: 'sns:Publish',
            message: describeError(err),
          });
        }
      }
    }
  }
  if (usage && !report.dryRun && !options.extraRun) {
    // Free-tier hours, instance-hours and estimated dollars for the digest, the dashboard and the budget.
    try {
      const recorded = await recordSweepUsage({
        policy,
        now,
        instances: observed,
        stops: report.stopped.length,
        prices: usage.prices,
        usage: usage.usage,
        ...(budget ? { estimateBeforeUsd: budget.estimateUsd } : {}),
      });
      if (recorded.alert && alerts) {
        await alerts.publish(recorded.alert);
        report.alertsSent++;
      }
    } catch (err) {
      extraErrors.push({
        region: deps.home.region,
        operation: 'cloudwatch:PutMetricData (usage)',
        message: describeError(err),
      });
    }
  }
  report.errors.push(...extraErrors);
  return report;
}
