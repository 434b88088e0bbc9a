import type { Decision } from './evaluate.js';
import type { Policy } from './policy.js';
import type { Alert, SweepReport } from './report.js';

/** Instances listed per section of a dry-run report; the JSON carries the counts. */
const MAX_LISTED = 100;

/** The first line of every dry-run email: what the mode is and how to leave it. */
export const DRY_RUN_BANNER =
  'DRY RUN: watchdog.yml has dryRun: true, so nothing was tagged, stopped or sent to owners. ' +
  'Set dryRun: false and run `npx serverless deploy` when this report looks right.';

function line(d: Decision): string {
  const who = [d.name, d.owner ? `owner ${d.owner}` : undefined].filter(Boolean).join(', ');
  return `- ${d.instanceId} (${d.instanceType}, ${d.region}${who ? `, ${who}` : ''}): ${d.reasons.join('; ')}`;
}

function section(title: string, decisions: Decision[]): string[] {
  if (decisions.length === 0) return [];
  const more = decisions.length - MAX_LISTED;
  return [
    `${title} (${decisions.length}):`,
    ...decisions.slice(0, MAX_LISTED).map(line),
    ...(more > 0 ? [`... and ${more} more (see the JSON)`] : []),
    '',
  ];
}

/**
 * The admin's report of a sweep under the policy's dryRun: what it would have stopped and warned about, and why,
 * clearly marked DRY RUN. Owners get nothing in a dry run.
 */
export function renderDryRunSweepAlert(report: SweepReport, policy: Policy): Alert {
  const wouldStop = report.decisions.filter((d) => d.action === 'stop');
  const wouldWarn = report.decisions.filter((d) => d.action === 'warn' && d.newWarning);
  const reported = report.decisions.filter((d) => d.action === 'report');
  const text = [
    DRY_RUN_BANNER,
    '',
    `cost-watchdog sweep at ${report.at}: ${report.instancesSeen} running instance(s) in ${report.scopes.length} region(s).`,
    '',
    ...section('Would have stopped now', wouldStop),
    ...section(
      `Would have warned (and stopped after the ${policy.graceMinutes}-minute grace period unless they change)`,
      wouldWarn,
    ),
    ...section('Reported only (never stopped by the watchdog)', reported),
    ...(report.errors.length > 0
      ? [
          `Errors (${report.errors.length}):`,
          ...report.errors
            .slice(0, MAX_LISTED)
            .map(
              (e) => `- ${e.region}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation}: ${e.message}`,
            ),
          '',
        ]
      : []),
  ].join('\n');
  const ids = (ds: Decision[]) => ds.map((d) => d.instanceId);
  return {
    subject: `cost-watchdog DRY RUN: would stop ${wouldStop.length}, would warn ${wouldWarn.length}${
      report.errors.length ? `, ${report.errors.length} errors` : ''
    }`,
    text,
    data: {
      kind: 'cost-watchdog/sweep',
      dryRun: true,
      at: report.at,
      instancesSeen: report.instancesSeen,
      wouldStop: ids(wouldStop),
      wouldWarn: ids(wouldWarn),
      decisions: report.decisions
        .filter((d) => d.action !== 'none')
        .slice(0, MAX_LISTED)
        .map(({ instanceId, region, instanceType, owner, action, rule, reasons }) => ({
          instanceId,
          region,
          instanceType,
          owner,
          action,
          rule,
          reasons,
        })),
      errors: report.errors.slice(0, MAX_LISTED),
    },
  };
}

/** An alert marked as sent under the policy's dryRun (the digest of a dry-run day): subject, banner and data. */
export function markDryRun(alert: Alert): Alert {
  return {
    ...alert,
    subject: `[DRY RUN] ${alert.subject}`,
    text: `${DRY_RUN_BANNER}\n\n${alert.text}`,
    data:
      typeof alert.data === 'object' && alert.data !== null ? { ...alert.data, dryRun: true } : alert.data,
  };
}
