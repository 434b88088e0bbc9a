import type { Decision } from './evaluate.js';
import type { FanOutSummary } from './fan-out.js';
import type { MorningStartReport } from './morning-start.js';

/** Reports and alerts: plain data shared by the jobs, the renderers and the notifier. */

/** One alert: the same content as readable text (email) and as JSON (for programs). */
export interface Alert {
  subject: string;
  text: string;
  data: unknown;
  /** Routed to this owner's subscription; without it, to the admin subscription. */
  owner?: string;
}

/** SNS accepts messages up to 256 KiB: every alert is rendered to fit (src/core/render.ts). */
export const ALERT_MAX_BYTES = 262_144;

/** The message published for an alert: the email text, and its JSON for every other protocol (SNS `json`). */
export function alertMessage(alert: Alert): string {
  return JSON.stringify({ default: JSON.stringify(alert.data), email: alert.text });
}

/** Something that went wrong for one instance, region or account; the rest of the run went on. */
export interface RunError {
  region: string;
  account?: string;
  instanceId?: string;
  operation: string;
  message: string;
}

/** What one account x region contributed. */
export interface ScopeSummary {
  region: string;
  account?: string;
  instances: number;
  ok: boolean;
  error?: string;
  /** The CloudWatch API the metrics were read with (chooseMetricsApi in src/core/self-cost.ts). */
  metricsApi?: 'GetMetricData' | 'GetMetricStatistics';
}

/** The result of a sweep: every decision with its reasons, what was done, and every error. */
export interface SweepReport {
  at: string;
  dryRun: boolean;
  scopes: ScopeSummary[];
  instancesSeen: number;
  decisions: Decision[];
  /** New warnings written (tag set). */
  warned: string[];
  stopped: string[];
  /** Warnings removed because the instance no longer breaks a rule (or is exempt now). */
  cleared: string[];
  /**
   * New warnings and stops left for the next run because the region had more of them than the sweep checks for
   * stop protection in one run (STOP_PROTECTION_CHECKS_PER_TARGET); nothing was written for them.
   */
  postponed: string[];
  errors: RunError[];
  alertsSent: number;
  /** Quiet hours' morning start (only with quietHours.morningStart): what it started, or in a dry run would start. */
  morningStart?: MorningStartReport;
  /** A run fanned out to the sweep-worker function (docs/scale.md): targets, results, failed, missing, late. */
  fanOut?: FanOutSummary;
}

/** What a target (or one kind of resource in it) adds to a report: its decisions, what was done, its errors. */
export type ResultLists = Pick<
  SweepReport,
  'decisions' | 'warned' | 'stopped' | 'cleared' | 'postponed' | 'errors'
>;

/** Appends each list of `from` to the same list of `into`, in order. */
export function appendResult(into: ResultLists, from: ResultLists): void {
  into.decisions.push(...from.decisions);
  into.warned.push(...from.warned);
  into.stopped.push(...from.stopped);
  into.cleared.push(...from.cleared);
  into.postponed.push(...from.postponed);
  into.errors.push(...from.errors);
}

/** A report of a run at `at` that has seen and done nothing yet. */
export function emptySweepReport(at: string, dryRun: boolean): SweepReport {
  return {
    at,
    dryRun,
    scopes: [],
    instancesSeen: 0,
    decisions: [],
    warned: [],
    stopped: [],
    cleared: [],
    postponed: [],
    errors: [],
    alertsSent: 0,
  };
}
