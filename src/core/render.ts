import { type ActionLinks, KEEP_HOURS } from './action-links.js';
import { shortError } from './errors.js';
import { fanOutLine } from './fan-out.js';
import type { Decision } from './evaluate.js';
import { KIND_CONSOLES, KIND_NAMES, kindOf, policyForKind } from './kinds.js';
import { formatLocalTime, localizeTimes } from './local-time.js';
import type { Policy } from './policy.js';
import { ALERT_MAX_BYTES, type Alert, alertMessage, type RunError, type SweepReport } from './report.js';
import { RULE_IDS, RULES, type Rule } from './rules.js';

/** At most this many instances are listed per section of an email; the JSON carries counts for the rest. */
const MAX_LISTED = 200;

/** Fewer listed per section, until an alert fits in one SNS message (a first run can warn thousands). */
const LISTED_TO_FIT = [MAX_LISTED, 100, 50, 20, 10, 5, 1];

/** The first rendering with LISTED_TO_FIT instances per section that fits in an SNS message. */
function fitted(render: (maxListed: number) => Alert): Alert {
  let alert = render(MAX_LISTED);
  for (const max of LISTED_TO_FIT.slice(1)) {
    if (new TextEncoder().encode(alertMessage(alert)).length <= ALERT_MAX_BYTES) break;
    alert = render(max);
  }
  return alert;
}

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

/**
 * The plan table: one row per instance with its rule and action, then each instance's reasons with their times
 * in `timeZone` (the policy's).
 */
export function renderPlanTable(decisions: Decision[], timeZone = 'UTC'): string {
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
    typeCell(d),
    d.region,
    d.owner ?? '',
    d.action.toUpperCase(),
    d.rule ?? '-',
    d.protection ?? '',
  ]);
  const table = renderTable(
    ['INSTANCE', 'NAME', 'TYPE', 'REGION', 'OWNER', 'ACTION', 'RULE', 'PROTECTED'],
    rows,
    [21, 24, 24, 14, 16],
  );
  const reasons = sorted.map((d) =>
    [
      `${d.instanceId} ${d.name ?? ''}`.trimEnd(),
      ...d.reasons.map((r) => `    - ${localizeTimes(r, timeZone)}`),
    ].join('\n'),
  );
  return `${table}\n\nReasons:\n${reasons.map((r) => `  ${r}`).join('\n')}`;
}

/** The type as tables and alerts show it: an EC2 type alone, other kinds named ("notebook ml.t3.medium"). */
function typeCell(d: Decision): string {
  const kind = kindOf(d);
  return kind === 'ec2' ? d.instanceType : `${KIND_NAMES[kind]} ${d.instanceType}`;
}

function line(d: Decision, timeZone: string): string {
  const who = [d.name, d.owner ? `owner ${d.owner}` : undefined].filter(Boolean).join(', ');
  const reasons = d.reasons.map((r) => localizeTimes(r, timeZone)).join('; ');
  return `- ${d.instanceId} (${typeCell(d)}, ${d.region}${who ? `, ${who}` : ''}): ${reasons}`;
}

/** One error of a run for an admin email: where, the operation and the AWS error code (never a stack). */
export function errorLine(e: RunError): string {
  const where = `${e.account ? `account ${e.account} ` : ''}${e.region}${e.instanceId ? ` ${e.instanceId}` : ''}`;
  return `- ${where} ${e.operation}: ${shortError(e.message)}`;
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

function section(
  title: string,
  decisions: Decision[],
  timeZone: string,
  links?: LinksById,
  max = MAX_LISTED,
): string[] {
  if (decisions.length === 0) return [];
  const listed = decisions
    .slice(0, max)
    .flatMap((d) => [line(d, timeZone), ...linkLines(links?.get(d.instanceId), timeZone)]);
  if (decisions.length > max) listed.push(`... and ${decisions.length - max} more (see the JSON)`);
  return [`${title} (${decisions.length}):`, ...listed, ''];
}

function summaryData(report: SweepReport, decisions: Decision[], links?: LinksById, max = MAX_LISTED) {
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
      .slice(0, max)
      .map((d) => ({
        ...(d.kind ? { kind: d.kind } : {}),
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
  return fitted((max) => sweepAlert(report, policy, links, max));
}

function sweepAlert(report: SweepReport, policy: Policy, links: LinksById | undefined, max: number): Alert {
  const byId = (ids: string[]) => {
    const wanted = new Set(ids);
    return report.decisions.filter((d) => wanted.has(d.instanceId));
  };
  const stopped = byId(report.stopped);
  const warned = byId(report.warned);
  const linked = linkedOf(warned, links);
  const reported = report.decisions.filter((d) => d.action === 'report');
  const tz = policy.timeZone;
  const text = [
    `cost-watchdog sweep at ${formatLocalTime(new Date(report.at), tz, { year: true })}: ${report.instancesSeen} running instance(s) in ${report.scopes.length} region(s).`,
    ...(report.fanOut ? [fanOutLine(report.fanOut)] : []),
    '',
    ...section('Stopped now (never terminated; start them again any time)', stopped, tz, undefined, max),
    ...section(
      `Warned: will be stopped after the ${policy.graceMinutes}-minute grace period unless the rule stops holding`,
      warned,
      tz,
      linked,
      max,
    ),
    ...section('Reported only (never stopped by the watchdog)', reported, tz, undefined, max),
    ...(report.postponed.length > 0
      ? [
          `Postponed to the next run (${report.postponed.length}): more new warnings and stops than one run checks for stop protection; they follow in the next runs.`,
          '',
        ]
      : []),
    ...(report.errors.length > 0
      ? [
          `Errors (${report.errors.length}); everything else went ahead:`,
          ...report.errors.slice(0, max).map(errorLine),
          '(the JSON part of this message has each error in full)',
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
    data: {
      ...summaryData(report, report.decisions, linked, max),
      errors: report.errors.slice(0, max),
      ...(report.fanOut ? { fanOut: fanOutData(report.fanOut, max) } : {}),
    },
  };
}

/** The fan-out's figures for the JSON part: counts, and the failed, missing and late targets (the first `max`). */
function fanOutData(f: NonNullable<SweepReport['fanOut']>, max: number) {
  return {
    ...f,
    deadLettered: f.deadLettered.slice(0, max),
    missing: f.missing.slice(0, max),
    late: f.late.slice(0, max),
  };
}

/** "notebook (i-0abc..., t3.micro, eu-central-1)", or without a Name tag "i-0abc... (t3.micro, eu-central-1)". */
function ownerLabel(d: Decision): string {
  const what = kindOf(d) === 'ec2' ? '' : `${KIND_NAMES[kindOf(d)]} `;
  return d.name
    ? `${what}${d.name} (${d.instanceId}, ${d.instanceType}, ${d.region})`
    : `${what}${d.instanceId} (${d.instanceType}, ${d.region})`;
}

/** The first letter in upper case. */
function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** Why the decision's rule holds, in plain words (no policy keys). */
function ownerWhy(d: Decision, policy: Policy): string {
  return d.rule
    ? RULES[d.rule].wording.why(d, policyForKind(policy, kindOf(d)))
    : 'it breaks one of the rules of this account';
}

/** The warned instances of one owner, per rule: why, when it will be stopped, what changes that, the links. */
function ownerWarnings(warned: Decision[], policy: Policy, links: LinksById, max = MAX_LISTED): string[] {
  const tz = policy.timeZone;
  const out: string[] = [];
  for (const rule of [...RULE_IDS, null] as (Rule | null)[]) {
    const mine = warned.filter((d) => d.rule === rule).slice(0, max);
    if (mine.length === 0) continue;
    out.push(`${sentence(rule ? RULES[rule].wording.name : 'other')} (${mine.length}):`);
    for (const d of mine) {
      const when = d.stopAfter
        ? `It will be stopped after ${formatLocalTime(new Date(d.stopAfter), tz)}.`
        : 'It will be stopped at a later run of the watchdog.';
      const changes = rule ? ` ${sentence(RULES[rule].wording.whatChangesIt)}.` : '';
      out.push(
        `- ${ownerLabel(d)}`,
        `  ${sentence(ownerWhy(d, policy))}.`,
        `  ${when}${changes}`,
        ...linkLines(links.get(d.instanceId), tz).map((l) => l.replace(/^ {4}/, '  ')),
      );
    }
    out.push('');
  }
  return out;
}

/**
 * The alert for one owner: only their instances that were warned about or stopped in this run, in plain words per
 * rule (why, when it will be stopped, whether using it changes that), every time in the policy's time zone. With
 * `links`, each warned instance gets its keep / stop links in the text and the JSON. It never tells the owner to
 * set a tag (the guardrail refuses that): the ways to keep an instance are the links or asking the admin.
 */
export function renderOwnerAlert(
  report: SweepReport,
  policy: Policy,
  owner: string,
  links?: LinksById,
): Alert {
  return fitted((max) => ownerAlert(report, policy, owner, links, max));
}

function ownerAlert(
  report: SweepReport,
  policy: Policy,
  owner: string,
  links: LinksById | undefined,
  max: number,
): Alert {
  const mine = report.decisions.filter((d) => d.owner === owner);
  const stoppedIds = new Set(report.stopped);
  const warnedIds = new Set(report.warned);
  const stopped = mine.filter((d) => stoppedIds.has(d.instanceId));
  const warned = mine.filter((d) => warnedIds.has(d.instanceId));
  const linked = linkedOf(warned, links);
  const tz = policy.timeZone;
  const at = formatLocalTime(new Date(report.at), tz);
  const counts = [
    warned.length > 0 ? `${warned.length} of your instances will be stopped soon` : '',
    stopped.length > 0 ? `${stopped.length} ${stopped.length === 1 ? 'was' : 'were'} stopped just now` : '',
  ].filter(Boolean);
  const expires = [...linked.values()][0]?.expiresAt;
  const keep =
    linked.size > 0
      ? `To keep an instance running longer, use its keep link above (the links work until ${formatLocalTime(new Date(expires ?? report.at), tz)}), or ask your instructor or administrator.`
      : warned.length > 0
        ? 'To keep an instance running longer, ask your instructor or administrator before then.'
        : '';
  const kinds = [...new Set([...warned, ...stopped].map((d) => kindOf(d)))];
  const onlyEc2 = kinds.every((k) => k === 'ec2');
  const consoles = [...new Set(kinds.map((k) => KIND_CONSOLES[k]))].join(' or ');
  const text = [
    `Hello ${owner},`,
    '',
    `cost-watchdog checked this account's ${onlyEc2 ? 'EC2 instances' : 'instances, notebooks and databases'} at ${at}: ${counts.join(', and ') || 'nothing to report'}.`,
    onlyEc2
      ? 'Stopping never deletes anything: the disk stays, and you can start the instance again from the EC2 console.'
      : `Stopping never deletes anything: disks and data stay, and you can start them again from ${consoles}.`,
    '',
    ...ownerWarnings(warned, policy, linked, max),
    ...(stopped.length > 0
      ? [
          `Stopped (${stopped.length}):`,
          ...stopped.slice(0, max).map((d) => `- ${ownerLabel(d)}: stopped because ${ownerWhy(d, policy)}.`),
          '',
        ]
      : []),
    ...(keep ? [keep] : []),
  ].join('\n');
  return {
    subject: `cost-watchdog: ${stopped.length} stopped, ${warned.length} warned (${owner})`,
    text,
    data: summaryData(report, mine, linked, max),
    owner,
  };
}
