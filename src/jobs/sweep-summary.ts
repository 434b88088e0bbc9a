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

/**
 * Bytes a log line may have. Lambda hands CloudWatch Logs a longer line in pieces (seen at 64 KiB, and events are
 * at most 256 KiB), and `cost-watchdog status` could not read a piece back as JSON: it would lose the run's errors.
 */
export const LOG_LINE_BYTES = 60_000;

/**
 * Most errors, scopes (account x region), ids of each list (warned, stopped, ...) and fan-out targets of each kind
 * the log line names; the rest are counted.
 */
const LOG_ERRORS = 50;
const LOG_SCOPES = 100;
const LOG_IDS = 200;
const LOG_TARGETS = 50;

/** The lists a log line may cut. */
type NotListed =
  | 'decisions'
  | 'errors'
  | 'scopes'
  | 'warned'
  | 'stopped'
  | 'cleared'
  | 'postponed'
  | 'morningStart'
  | 'deadLettered'
  | 'missing'
  | 'late';

/** A summary as logged: within LOG_LINE_BYTES, with what it leaves out counted. */
export type LoggedSummary = SweepSummary & {
  /** What the line leaves out, by list (only when something is). */
  notListed?: Partial<Record<NotListed, number>>;
  /** Decisions by action, when not all of them are listed. */
  decisionCounts?: Record<string, number>;
};

/**
 * The summary for the handler's log line: the whole summary when its JSON fits in `budget` bytes; otherwise the
 * first LOG_ERRORS errors, LOG_SCOPES scopes (those that failed or saw instances first), LOG_IDS ids of each list,
 * LOG_TARGETS fan-out targets of each kind, and as many decisions as fit, stops first, then warnings, then reports,
 * each in sweep order, with counts of what is left out. Counts and everything else are kept.
 */
export function forLog(summary: SweepSummary, budget = LOG_LINE_BYTES): LoggedSummary {
  const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));
  if (bytes(summary) <= budget) return summary;
  const notListed: NonNullable<LoggedSummary['notListed']> = {};
  const cap = <T>(name: keyof typeof notListed, list: T[], most: number): T[] => {
    if (list.length > most) notListed[name] = list.length - most;
    return list.slice(0, most);
  };
  const decisionCounts: Record<string, number> = {};
  for (const d of summary.decisions) decisionCounts[d.action] = (decisionCounts[d.action] ?? 0) + 1;
  const scopeRank = (x: SweepSummary['scopes'][number]) => (!x.ok ? 0 : x.instances > 0 ? 1 : 2);
  const out: LoggedSummary = {
    ...summary,
    errors: cap('errors', summary.errors, LOG_ERRORS),
    scopes: cap(
      'scopes',
      [...summary.scopes].sort((a, b) => scopeRank(a) - scopeRank(b)),
      LOG_SCOPES,
    ),
    warned: cap('warned', summary.warned, LOG_IDS),
    stopped: cap('stopped', summary.stopped, LOG_IDS),
    cleared: cap('cleared', summary.cleared, LOG_IDS),
    postponed: cap('postponed', summary.postponed, LOG_IDS),
    decisions: [],
    decisionCounts,
    notListed,
  };
  if (summary.morningStart)
    out.morningStart = {
      decisions: cap('morningStart', summary.morningStart.decisions, LOG_IDS),
      started: summary.morningStart.started.slice(0, LOG_IDS),
    };
  if (summary.fanOut)
    out.fanOut = {
      ...summary.fanOut,
      deadLettered: cap('deadLettered', summary.fanOut.deadLettered, LOG_TARGETS),
      missing: cap('missing', summary.fanOut.missing, LOG_TARGETS),
      late: cap('late', summary.fanOut.late, LOG_TARGETS),
    };
  // Room for the decisions: what the rest takes, with room for the counts of what is left out.
  let room = budget - bytes(out) - 100;
  const rank = (action: string) => (action === 'stop' ? 0 : action === 'warn' ? 1 : 2);
  const ordered = [...summary.decisions].sort((a, b) => rank(a.action) - rank(b.action));
  for (const d of ordered) {
    const size = bytes(d) + 1;
    if (size > room) break;
    out.decisions.push(d);
    room -= size;
  }
  if (out.decisions.length < summary.decisions.length)
    notListed.decisions = summary.decisions.length - out.decisions.length;
  return out;
}

/**
 * The stop decisions a log line of forLog() leaves out, in lines of at most `budget` bytes each: every stop keeps
 * its reasons in the log, however many there are (DESIGN.md: the reasons are what the log shows). Warnings and
 * reports beyond the summary line are counted there; the owners' emails and the instances' tags have them.
 */
export function stopsNotListed(
  summary: SweepSummary,
  logged: LoggedSummary,
  budget = LOG_LINE_BYTES,
): SweepSummary['decisions'][] {
  const listed = new Set(logged.decisions);
  const left = summary.decisions.filter((d) => d.action === 'stop' && !listed.has(d));
  const lines: SweepSummary['decisions'][] = [];
  let line: SweepSummary['decisions'] = [];
  let room = budget - 200;
  for (const d of left) {
    const size = Buffer.byteLength(JSON.stringify(d)) + 1;
    if (line.length > 0 && size > room) {
      lines.push(line);
      line = [];
      room = budget - 200;
    }
    line.push(d);
    room -= size;
  }
  if (line.length > 0) lines.push(line);
  return lines;
}
