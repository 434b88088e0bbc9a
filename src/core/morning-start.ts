/**
 * Quiet hours' morning start in words: what one run decided for each stopped instance quiet hours had stopped (start
 * it, or leave it and why), as the plan shows it and as the alerts to the admin and each owner say it. Pure.
 */
import type { InstanceRef } from './instance.js';
import { formatLocalTime, localizeTimes } from './local-time.js';
import type { Policy } from './policy.js';
import type { MorningStartDecision } from './quiet-hours.js';
import { renderTable } from './render.js';
import type { Alert } from './report.js';

/** One stopped instance the morning start looked at. */
export type MorningStartItem = InstanceRef & MorningStartDecision;

/** What a morning start did (or, in a dry run, would do). */
export interface MorningStartReport {
  /** Every instance quiet hours had stopped, with the decision and its reason. */
  decisions: MorningStartItem[];
  /** Started by this run (empty in a dry run). */
  started: string[];
}

/** The plan's morning-start section: one row per instance, START or LEFT, with the reason in `timeZone`. */
export function renderMorningStartTable(report: MorningStartReport, timeZone: string): string {
  if (report.decisions.length === 0) return 'No instance stopped by quiet hours.';
  return renderTable(
    ['INSTANCE', 'NAME', 'REGION', 'OWNER', 'ACTION', 'WHY'],
    report.decisions.map((d) => [
      d.instanceId,
      d.name ?? '',
      d.region,
      d.owner ?? '',
      d.start ? 'START' : 'LEFT',
      localizeTimes(d.reason, timeZone),
    ]),
    [21, 24, 14, 16],
  );
}

function label(d: MorningStartItem): string {
  return d.name
    ? `${d.name} (${d.instanceId}, ${d.instanceType}, ${d.region})`
    : `${d.instanceId} (${d.instanceType}, ${d.region})`;
}

/**
 * The alerts of a morning start that started something: one for the admin listing every instance started, and one
 * per owner listing theirs. None when nothing was started.
 */
export function renderMorningStartAlerts(report: MorningStartReport, policy: Policy, now: Date): Alert[] {
  const started = new Set(report.started);
  const items = report.decisions.filter((d) => started.has(d.instanceId));
  if (items.length === 0) return [];
  const tz = policy.timeZone;
  const at = formatLocalTime(now, tz, { year: true });
  const end = (d: MorningStartItem) =>
    d.period ? ` (quiet hours ended ${formatLocalTime(new Date(d.period.end), tz)})` : '';
  const data = (list: MorningStartItem[]) => ({
    kind: 'cost-watchdog/morning-start',
    at: now.toISOString(),
    started: list.map((d) => ({
      instanceId: d.instanceId,
      region: d.region,
      ...(d.account ? { account: d.account } : {}),
      instanceType: d.instanceType,
      ...(d.owner ? { owner: d.owner } : {}),
      reason: d.reason,
      ...(d.period ? { period: d.period } : {}),
    })),
  });
  const alerts: Alert[] = [
    {
      subject: `cost-watchdog: ${items.length} started after quiet hours`,
      text: [
        `cost-watchdog morning start at ${at}: started again ${items.length} instance(s) that quiet hours stopped (quietHours.morningStart).`,
        '',
        ...items.map((d) => `- ${label(d)}${d.owner ? `, owner ${d.owner}` : ''}${end(d)}`),
        '',
        'Only instances the watchdog itself stopped for quiet hours are started, and only once after each stop.',
      ].join('\n'),
      data: data(items),
    },
  ];
  const owners = [...new Set(items.map((d) => d.owner).filter((o): o is string => o !== undefined))].sort();
  for (const owner of owners) {
    const mine = items.filter((d) => d.owner === owner);
    alerts.push({
      subject: `cost-watchdog: ${mine.length} started after quiet hours (${owner})`,
      text: [
        `Hello ${owner},`,
        '',
        `Quiet hours are over: cost-watchdog started again at ${at} what it had stopped for them, so you find it as you left it:`,
        ...mine.map((d) => `- ${label(d)}`),
        '',
        'It costs money again while it runs: stop it yourself in the EC2 console when you do not need it.',
      ].join('\n'),
      data: data(mine),
      owner,
    });
  }
  return alerts;
}
