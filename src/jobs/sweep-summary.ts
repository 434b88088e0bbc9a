/**
 * What the sweep handler returns, logs and throws after a run: light on imports, so that the handler module can
 * load it at once and the sweep itself (src/jobs/sweep-now.ts) on its first invocation.
 */
import { WatchdogError } from '../core/errors.js';
import type { SweepReport } from '../core/report.js';

/** Thrown after a sweep that finished with errors, so the function's error alarm fires. The work is done. */
export class SweepIncompleteError extends WatchdogError {
  constructor(readonly summary: SweepSummary) {
    super(
      `sweep finished with ${summary.errors.length} error(s): ${summary.errors
        .map((e) => e.message)
        .slice(0, 3)
        .join(' | ')}`,
    );
    this.name = 'SweepIncompleteError';
  }
}

/** What the handler returns and logs: counts, what was done, errors, and every decision that is not "none". */
export type SweepSummary = Omit<SweepReport, 'decisions'> & {
  decisions: Pick<
    SweepReport['decisions'][number],
    'kind' | 'instanceId' | 'region' | 'action' | 'rule' | 'reasons' | 'protection'
  >[];
};

/** Shrinks a report for the log line and the return value (Lambda responses are limited to 6 MB). */
export function summarize(report: SweepReport): SweepSummary {
  return {
    ...report,
    decisions: report.decisions
      .filter((d) => d.action !== 'none')
      .map(({ kind, instanceId, region, action, rule, reasons, protection }) => ({
        ...(kind ? { kind } : {}),
        instanceId,
        region,
        action,
        rule,
        reasons,
        protection,
      })),
  };
}
