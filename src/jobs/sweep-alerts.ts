/**
 * The alerts at the end of a sweep: the admin's summary and one alert per owner (or, in the policy's dry run, the
 * DRY RUN report). Sent by runSweep() after an invocation swept its targets, and by the fan-out's summary after the
 * workers swept them (src/jobs/fan-out.ts): the same alerts either way.
 */
import { mapBounded } from '../aws/clients.js';
import { renderDryRunSweepAlert } from '../core/dry-run.js';
import { describeError } from '../core/errors.js';
import type { Decision } from '../core/evaluate.js';
import type { Policy } from '../core/policy.js';
import { type LinksById, renderOwnerAlert, renderSweepAlert } from '../core/render.js';
import type { Alert, RunError, SweepReport } from '../core/report.js';

/** Owner alerts published at once (SNS Publish, one message each). */
export const ALERTS_IN_PARALLEL = 10;

/** What sending a sweep's alerts needs. */
export interface SweepAlertOptions {
  policy: Policy;
  publish: (alert: Alert) => Promise<unknown>;
  /** The caller asked for a dry run (plan, sweep --dry-run): nothing is sent at all. */
  dryRunAsked: boolean;
  /** Signed keep / stop links for the instances warned in this run; absent = warnings without links. */
  actionLinks?: (warned: Decision[]) => Promise<LinksById>;
}

/**
 * Sends the alerts of a finished sweep and counts them on the report (failures become errors in it): in the policy's
 * dry run the DRY RUN report when something would have been done; otherwise, when something was warned, stopped or
 * failed, the admin's summary first, then one alert per owner of a warned or stopped instance, several at once.
 */
export async function publishSweepAlerts(report: SweepReport, options: SweepAlertOptions): Promise<void> {
  const { policy, publish } = options;
  if (report.dryRun && policy.dryRun && !options.dryRunAsked) {
    // The policy's dry run (a first day with the watchdog) reports to the admin what it would have done; a
    // dry run asked for by the caller (plan, sweep --dry-run) sends nothing.
    const wouldAct = report.decisions.some(
      (d) => d.action === 'stop' || (d.action === 'warn' && d.newWarning),
    );
    if (wouldAct || report.errors.length > 0) {
      try {
        await publish(renderDryRunSweepAlert(report, policy));
        report.alertsSent++;
      } catch (err) {
        report.errors.push({ region: '-', operation: 'sns:Publish', message: describeError(err) });
      }
    }
  }
  if (!report.dryRun && (report.warned.length > 0 || report.stopped.length > 0 || report.errors.length > 0)) {
    let links: LinksById | undefined;
    const warnedIds = new Set(report.warned);
    const stoppedIds = new Set(report.stopped);
    const warned = report.decisions.filter((d) => warnedIds.has(d.instanceId));
    if (options.actionLinks && warned.length > 0) {
      // Without the signing key the warnings still go out, without links, and the report says why.
      links = await options.actionLinks(warned).catch((err: unknown) => {
        report.errors.push({ region: '-', operation: 'action links', message: describeError(err) });
        return undefined;
      });
    }
    const alerts: Alert[] = [renderSweepAlert(report, policy, links)];
    const owners = new Set<string>();
    for (const d of report.decisions) {
      if (d.owner && (warnedIds.has(d.instanceId) || stoppedIds.has(d.instanceId))) owners.add(d.owner);
    }
    for (const owner of [...owners].sort()) alerts.push(renderOwnerAlert(report, policy, owner, links));
    const send = (alert: Alert): Promise<RunError | null> =>
      publish(alert).then(
        () => null,
        (err: unknown) => ({ region: '-', operation: 'sns:Publish', message: describeError(err) }),
      );
    // The admin's summary first, then the owners' alerts, several at once (one call each).
    const [summary, ...perOwner] = alerts as [Alert, ...Alert[]];
    const sent = [await send(summary), ...(await mapBounded(perOwner, ALERTS_IN_PARALLEL, send))];
    for (const failure of sent) {
      if (failure) report.errors.push(failure);
      else report.alertsSent++;
    }
  }
}
