import { jsonLogger } from '../core/log.js';
import {
  forLog,
  stopsNotListed,
  SweepIncompleteError,
  type SweepSummary,
  summarize,
} from '../jobs/sweep-summary.js';
import { type SweepHandlerDeps, sdkSweepJob } from './sweep-deps.js';

export type { SweepHandlerDeps } from './sweep-deps.js';
export { SweepIncompleteError, type SweepSummary, summarize } from '../jobs/sweep-summary.js';

/**
 * Builds the sweep Lambda handler: one sweepNow() per scheduled event. The environment and the policy are read and
 * validated on the first invocation (an invalid policy fails there, before anything is touched). A run that
 * finished with errors throws SweepIncompleteError after its work, so the function's error alarm fires.
 */
export function createSweepHandler(deps: SweepHandlerDeps): (event: unknown) => Promise<SweepSummary> {
  const log = deps.log ?? jsonLogger;
  // Loading the module does no work: the policy (its schema, YAML), the sweep and the clients are loaded and
  // built on the first invocation (sdkSweepJob, src/handlers/sweep-deps.ts), and kept for the next ones.
  const setUp = async () => {
    const [{ handlerRuntime }, { sweepNow }, { isQuietHoursRun }] = await Promise.all([
      import('./runtime.js'),
      import('../jobs/sweep-now.js'),
      import('../core/quiet-schedules.js'),
    ]);
    const job = sdkSweepJob(handlerRuntime(deps.env), deps, log);
    return { job, sweepNow, isQuietHoursRun };
  };
  let ready: ReturnType<typeof setUp> | undefined;
  return async (event) => {
    // A failed set-up (an invalid policy) is tried again on the next invocation, and fails the same way.
    ready ??= setUp().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    const { job, sweepNow, isQuietHoursRun } = await ready;
    // Quiet hours' runs at the windows' edges are extra runs: they record no usage (docs/quiet-hours.md).
    const extraRun = isQuietHoursRun(event);
    const report = await sweepNow(job, { now: deps.clock(), ...(extraRun ? { extraRun } : {}) });
    const summary = summarize(report);
    // `cost-watchdog status` reads the summary line back from the log ("sweep: ..." and its report): core/status.ts.
    // It is kept short enough for Lambda to pass it on whole (forLog); every stop it cannot name goes in lines of
    // their own before it ("sweep-stops: ..."); the returned summary has every decision.
    const logged = forLog(summary);
    const stops = stopsNotListed(summary, logged);
    stops.forEach((decisions, k) => {
      log({
        level: 'info',
        message: `sweep-stops: ${k + 1} of ${stops.length}, ${decisions.length} stops`,
        decisions,
      });
    });
    log({
      level: report.errors.length > 0 ? 'error' : 'info',
      message: `sweep: ${report.instancesSeen} seen, ${report.warned.length} warned, ${report.stopped.length} stopped, ${report.errors.length} errors`,
      report: logged,
    });
    if (report.errors.length > 0) throw new SweepIncompleteError(summary);
    return summary;
  };
}

/** The Lambda entry point. */
export const handler = createSweepHandler({ clock: () => new Date(), env: process.env });
