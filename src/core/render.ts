import { type ActionLinks, formatLocalTime, KEEP_HOURS } from './action-links.js';
import type { Decision } from './evaluate.js';
import type { Policy } from './policy.js';
import type { Alert, SweepReport } from './report.js';

/** At most this many instances are listed per section of an email; the JSON carries counts for the rest. */
const MAX_LISTED = 200;

/** Characters in `text` (code points: an emoji counts once and is never cut in half). */
function charCount(text: string): number {
  return /[\uD800-\uDFFF]/.test(text) ? Array.from(text).length : text.length;
}

/** A plain-text table with aligned columns; a cell longer than its column's `maxWidths` ends in "~". */
export function renderTable(headers: string[], rows: string[][], maxWidths: number[] = []): string {
  const cells = [headers, ...rows].map((r) =>
    r.map((c, i) => {
      const max = maxWidths[i];
      return max !== undefined && charCount(c) > max
        ? `${Array.from(c)
            .slice(0, max - 1)
            .join('')}~`
        : c;
    }),
  );
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => charCount(r[i] ?? ''))));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - charCount(c)))))
      .join('  ')
      .trimEnd();
  return [line(cells[0] ?? []), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

/** The plan table: one row per instance with its rule and action, then each instance's reasons. */
export function renderPlanTable(decisions: Decision[]): string {
  if (decisions.length === 0) return 'No running instances.';
  const order = { stop: 0, warn: 1, report: 2, none: 3 } as const;
  const sorted = [...decisions].sort(
    (a, b) =>
      order[a.action] - order[b.action] ||
      a.region.localeCompare(b.region) ||
      a.instanceId.localeCompare(b.instanceId),
  );
  const rows = sorted.map((d) => [
    d.instanceId,
    d.name ?? '',
    d.instanceType,
    d.region,
    d.owner ?? '',
    d.action.toUpperCase(),
    d.rule ?? '-',
    d.protection ?? '',
  ]);
  const table = renderTable(
    ['INSTANCE', 'NAME', 'TYPE', 'REGION', 'OWNER', 'ACTION', 'RULE', 'PROTECTED'],
    rows,
    [21, 24, 14, 14, 16],
  );
  const reasons = sorted.map((d) =>
    [`${d.instanceId} ${d.name ?? ''}`.trimEnd(), ...d.reasons.map((r) => `    - ${r}`)].join('\n'),
  );
  return `${table}\n\nReasons:\n${reasons.map((r) => `  ${r}`).join('\n')}`;
}

function line(d: Decision): string {
  const who = [d.name, d.owner ? `owner ${d.owner}` : undefined].filter(Boolean).join(', ');
  return `- ${d.instanceId} (${d.instanceType}, ${d.region}${who ? `, ${who}` : ''}): ${d.reasons.join('; ')}`;
}

/** Signed action links per instance id (keep 4 h, keep until tomorrow, stop), set by the sweep job. */
export type LinksById = ReadonlyMap<string, ActionLinks>;

/** At most this many instances of one alert carry action links (about 1 KB each; SNS allows 256 KiB). */
export const MAX_LINKED = 50;

/** The links of the first MAX_LINKED of `decisions` that have them. */
function linkedOf(decisions: Decision[], links: LinksById | undefined): LinksById {
  const out = new Map<string, ActionLinks>();
  for (const d of decisions) {
    const l = links?.get(d.instanceId);
    if (l && out.size < MAX_LINKED) out.set(d.instanceId, l);
  }
  return out;
}

function linkLines(links: ActionLinks | undefined, timeZone: string): string[] {
  if (!links) return [];
  const until = formatLocalTime(new Date(links.keepTomorrowUntil), timeZone);
  return [
    `    Keep it running ${KEEP_HOURS} more hours: ${links.keep4h}`,
    `    Keep it running until ${until}: ${links.keepTomorrow}`,
    `    Stop it now: ${links.stop}`,
  ];
}

function section(title: string, decisions: Decision[], links?: LinksById, timeZone = 'UTC'): string[] {
  if (decisions.length === 0) return [];
  const listed = decisions
    .slice(0, MAX_LISTED)
    .flatMap((d) => [line(d), ...linkLines(links?.get(d.instanceId), timeZone)]);
  if (decisions.length > MAX_LISTED)
    listed.push(`... and ${decisions.length - MAX_LISTED} more (see the JSON)`);
  return [`${title} (${decisions.length}):`, ...listed, ''];
}

function summaryData(report: SweepReport, decisions: Decision[], links?: LinksById) {
  const ids = new Set(decisions.map((d) => d.instanceId));
  const stopped = new Set(report.stopped);
  return {
    kind: 'cost-watchdog/sweep',
    at: report.at,
    dryRun: report.dryRun,
    instancesSeen: report.instancesSeen,
    warned: report.warned.filter((id) => ids.has(id)),
    stopped: report.stopped.filter((id) => ids.has(id)),
    postponed: report.postponed.filter((id) => ids.has(id)),
    decisions: decisions
      .filter((d) => d.action !== 'none')
      .slice(0, MAX_LISTED)
      .map((d) => ({
        instanceId: d.instanceId,
        region: d.region,
        account: d.account,
        instanceType: d.instanceType,
        owner: d.owner,
        action: stopped.has(d.instanceId) ? 'stopped' : d.action,
        rule: d.rule,
        protection: d.protection,
        reasons: d.reasons,
        stopAfter: d.stopAfter,
        measured: d.measured,
        ...linksData(links?.get(d.instanceId)),
      })),
  };
}

function linksData(links: ActionLinks | undefined) {
  if (!links) return {};
  const { keep4h, keepTomorrow, stop, expiresAt, keepTomorrowUntil } = links;
  return { links: { keep4h, keepTomorrow, stop, expiresAt, keepTomorrowUntil } };
}

/**
 * The run's summary alert for the admin subscription: warnings, stops, reported-only instances, errors.
 * With `links`, each warned instance gets its keep / stop links in the text and the JSON.
 */
export function renderSweepAlert(report: SweepReport, policy: Policy, links?: LinksById): Alert {
  const byId = (ids: string[]) => {
    const wanted = new Set(ids);
    return report.decisions.filter((d) => wanted.has(d.instanceId));
  };
  const stopped = byId(report.stopped);
  const warned = byId(report.warned);
  const linked = linkedOf(warned, links);
  const reported = report.decisions.filter((d) => d.action === 'report');
  const text = [
    `cost-watchdog sweep at ${report.at}: ${report.instancesSeen} running instance(s) in ${report.scopes.length} region(s).`,
    '',
    ...section('Stopped now (never terminated; start them again any time)', stopped),
    ...section(
      `Warned: will be stopped after the ${policy.graceMinutes}-minute grace period unless they change`,
      warned,
      linked,
      policy.timeZone,
    ),
    ...section('Reported only (never stopped by the watchdog)', reported),
    ...(report.postponed.length > 0
      ? [
          `Postponed to the next run (${report.postponed.length}): more new warnings and stops than one run checks for stop protection; they follow in the next runs.`,
          '',
        ]
      : []),
    ...(report.errors.length > 0
      ? [
          `Errors (${report.errors.length}); everything else went ahead:`,
          ...report.errors
            .slice(0, MAX_LISTED)
            .map(
              (e) =>
                `- ${e.account ? `account ${e.account} ` : ''}${e.region}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation}: ${e.message}`,
            ),
          '',
        ]
      : []),
    `To keep an instance running, tag it ${policy.tags.exempt}=true, or ${policy.tags.exempt}=YYYY-MM-DD to snooze until that date.`,
  ].join('\n');
  const subject = `cost-watchdog: ${stopped.length} stopped, ${warned.length} warned${
    report.errors.length ? `, ${report.errors.length} errors` : ''
  }`;
  return {
    subject,
    text,
    data: { ...summaryData(report, report.decisions, linked), errors: report.errors.slice(0, MAX_LISTED) },
  };
}

/**
 * The alert for one owner: only their instances that were warned about or stopped in this run. With `links`,
 * each warned instance gets its keep / stop links in the text and the JSON.
 */
export function renderOwnerAlert(
  report: SweepReport,
  policy: Policy,
  owner: string,
  links?: LinksById,
): Alert {
  const mine = report.decisions.filter((d) => d.owner === owner);
  const stoppedIds = new Set(report.stopped);
  const warnedIds = new Set(report.warned);
  const stopped = mine.filter((d) => stoppedIds.has(d.instanceId));
  const warned = mine.filter((d) => warnedIds.has(d.instanceId));
  const linked = linkedOf(warned, links);
  const text = [
    `Hello ${owner},`,
    '',
    ...section(
      'cost-watchdog stopped these instances of yours (nothing was deleted; start them again when you need them)',
      stopped,
    ),
    ...section(
      `These instances of yours will be stopped after ${policy.graceMinutes} minutes unless they are used`,
      warned,
      linked,
      policy.timeZone,
    ),
    `To keep one running, tag it ${policy.tags.exempt}=YYYY-MM-DD (snooze until that date) or ask your administrator.`,
  ].join('\n');
  return {
    subject: `cost-watchdog: ${stopped.length} stopped, ${warned.length} warned (${owner})`,
    text,
    data: summaryData(report, mine, linked),
    owner,
  };
}
