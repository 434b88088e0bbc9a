/**
 * Quiet hours (policy `quietHours`, docs/quiet-hours.md): the times of the week when nothing of a class runs unless
 * somebody kept it. Windows are local times in a time zone (the window's own, the owner's, or the policy's); this
 * file turns them into quiet periods (instants, daylight saving time included; overlapping and adjoining windows
 * joined into one), judges the quiet-hours rule and decides the optional morning start. Pure: the clock is an
 * argument.
 */
import type { Instance } from './instance.js';
import { zoneOffsetAt } from './local-time.js';
import { kindOf } from './kinds.js';
import { DAY_NAMES, type DayName, minutesOfDay, type Policy, TAGS } from './policy.js';
import type { Measured, Verdict } from './rules.js';

/**
 * Minutes before `graceMinutes` ahead of a window's start from which the rule holds (and the generated warning
 * schedule fires): a warning written up to this late still leaves the whole grace before the window starts.
 */
export const QUIET_HOURS_LEAD_MINUTES = 5;

/** How long after a quiet period ends the morning start still starts what it stopped (a missed run catches up). */
export const MORNING_START_HOURS = 12;

/** One window of the policy. */
export type QuietWindow = Policy['quietHours']['windows'][number];

/** A quiet period: from `start` to `end` (epoch ms), one or more windows joined. */
export interface QuietPeriod {
  start: number;
  end: number;
  /** The time zone of the window that starts the period (how its times are shown to the owner). */
  timeZone: string;
  /** The windows it is made of, as people read them ("mon-fri 22:00-07:00 Europe/Berlin"). */
  windows: string[];
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/**
 * The instant of a local wall-clock time in `timeZone`: `minutes` after midnight of the given date (more than a
 * day's minutes run on into the next days). A time that does not exist (the hour skipped when clocks go forward)
 * is moved forward by the change (02:30 becomes 03:30); a time that exists twice (clocks go back) is the first.
 */
export function localTimeToInstant(
  year: number,
  monthIndex: number,
  day: number,
  minutes: number,
  timeZone: string,
): number {
  const wall = Date.UTC(year, monthIndex, day, 0, minutes);
  const before = zoneOffsetAt(wall - DAY_MS, timeZone);
  const after = zoneOffsetAt(wall + DAY_MS, timeZone);
  const early = wall - before;
  const late = wall - after;
  const earlyOk = zoneOffsetAt(early, timeZone) === before;
  const lateOk = zoneOffsetAt(late, timeZone) === after;
  if (earlyOk && lateOk) return Math.min(early, late);
  if (lateOk) return late;
  // Valid with the earlier offset, or in the gap (neither is): the offset before the change moves it forward.
  return early;
}

/** Days of a window as people read them: "every day", "mon-fri", "sat,sun", "mon,wed-fri". */
export function describeDays(days: readonly DayName[]): string {
  if (days.length === 7) return 'every day';
  // Monday first, as a timetable reads.
  const week: DayName[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const on = week.map((d) => days.includes(d));
  const parts: string[] = [];
  for (let i = 0; i < 7; i++) {
    if (!on[i]) continue;
    let j = i;
    while (j + 1 < 7 && on[j + 1]) j++;
    parts.push(j - i >= 2 ? `${week[i]}-${week[j]}` : week.slice(i, j + 1).join(','));
    i = j;
  }
  return parts.join(',');
}

/** A window as people read it: "mon-fri 22:00-07:00 Europe/Berlin". */
export function describeWindow(window: QuietWindow, timeZone: string): string {
  return `${describeDays(window.days)} ${window.from}-${window.to} ${timeZone}`;
}

/** The time zone a window is read in for an instance: its own, else the owner's (ownerTimeZones), else the policy's. */
export function windowTimeZone(window: QuietWindow, policy: Policy, owner: string | undefined): string {
  if (window.timeZone !== undefined) return window.timeZone;
  const own = owner !== undefined ? policy.quietHours.ownerTimeZones[owner] : undefined;
  return own ?? policy.timeZone;
}

/** The owner of an instance as the policy's owner tag names it, or undefined. */
function ownerOf(instance: Pick<Instance, 'tags'>, policy: Policy): string | undefined {
  const owner = instance.tags[policy.tags.owner]?.trim();
  return owner === undefined || owner === '' ? undefined : owner;
}

/**
 * The quiet periods around `atMs` (windows starting from 8 days before to 2 days after its local date), for an
 * instance of `owner`: every window's occurrences in its time zone, joined where they overlap or adjoin, in order.
 */
export function quietPeriods(policy: Policy, owner: string | undefined, atMs: number): QuietPeriod[] {
  const windows = policy.quietHours.windows;
  if (windows.length === 0) return [];
  const ownZone = owner !== undefined ? policy.quietHours.ownerTimeZones[owner] : undefined;
  // A sweep judges thousands of instances at one time, most in the same zones: one computation per zone and hour.
  const key = `${ownZone ?? ''}|${Math.floor(atMs / 3_600_000)}`;
  let cache = periodCache.get(policy);
  if (!cache) {
    cache = new Map();
    periodCache.set(policy, cache);
  }
  const cached = cache.get(key);
  if (cached) return cached;
  const occurrences: QuietPeriod[] = [];
  for (const window of windows) {
    const zone = windowTimeZone(window, policy, owner);
    const label = describeWindow(window, zone);
    const from = minutesOfDay(window.from);
    const to = minutesOfDay(window.to);
    const length = to > from ? to - from : to + 1440 - from;
    const local = new Date(atMs + zoneOffsetAt(atMs, zone));
    for (let k = -8; k <= 2; k++) {
      const date = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + k));
      if (!window.days.includes(DAY_NAMES[date.getUTCDay()] as DayName)) continue;
      const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()];
      const start = localTimeToInstant(y, m, d, from, zone);
      const end = localTimeToInstant(y, m, d, from + length, zone);
      // A window inside the hour skipped when clocks go forward does not happen that night.
      if (end > start) occurrences.push({ start, end, timeZone: zone, windows: [label] });
    }
  }
  occurrences.sort((a, b) => a.start - b.start || b.end - a.end);
  const joined: QuietPeriod[] = [];
  for (const o of occurrences) {
    const last = joined[joined.length - 1];
    if (last && o.start <= last.end) {
      last.end = Math.max(last.end, o.end);
      for (const w of o.windows) if (!last.windows.includes(w)) last.windows.push(w);
    } else {
      joined.push({ ...o, windows: [...o.windows] });
    }
  }
  if (cache.size > 1000) cache.clear();
  cache.set(key, joined);
  return joined;
}

const periodCache = new WeakMap<Policy, Map<string, QuietPeriod[]>>();

/** How long before a quiet period starts the rule holds: the grace plus QUIET_HOURS_LEAD_MINUTES. */
export function quietLeadMs(policy: Policy): number {
  return (policy.graceMinutes + QUIET_HOURS_LEAD_MINUTES) * MINUTE_MS;
}

/**
 * The quiet period the rule holds for at `atMs` for this instance (from its start minus the lead until its end),
 * or null. Only for the kinds quiet hours cover.
 */
export function quietPeriodFor(
  instance: Pick<Instance, 'tags'>,
  policy: Policy,
  atMs: number,
): QuietPeriod | null {
  if (policy.quietHours.windows.length === 0) return null;
  const lead = quietLeadMs(policy);
  return (
    quietPeriods(policy, ownerOf(instance, policy), atMs).find(
      (p) => atMs < p.end && atMs >= p.start - lead,
    ) ?? null
  );
}

/** A verdict that may name the earliest time a stop for it may happen. */
export type QuietVerdict = Verdict & { stopNotBefore?: number };

/**
 * The quiet-hours rule: holds from graceMinutes + QUIET_HOURS_LEAD_MINUTES before a quiet period starts until it
 * ends, so its warning goes out (and is never cleared as "no longer applies") ahead of the window; a stop waits
 * for the period's start (`stopNotBefore`). Records the period in `measured.quietHours`.
 */
export function judgeQuietHours(
  instance: Instance,
  policy: Policy,
  nowMs: number,
  measured: Measured,
): QuietVerdict {
  if (policy.quietHours.windows.length === 0) return { holds: false, reason: '' };
  if (!policy.quietHours.kinds.includes(kindOf(instance))) return { holds: false, reason: '' };
  const p = quietPeriodFor(instance, policy, nowMs);
  if (!p) return { holds: false, reason: '' };
  measured.quietHours = { start: iso(p.start), end: iso(p.end), timeZone: p.timeZone };
  return {
    holds: true,
    reason: `quiet hours from ${iso(p.start)} until ${iso(p.end)} (${p.windows.join('; ')})`,
    stopNotBefore: p.start,
  };
}

/** What the morning start does with one stopped instance, and why. */
export interface MorningStartDecision {
  start: boolean;
  reason: string;
  /** The quiet period its stop fell in, when there is one. */
  period?: { start: string; end: string };
}

/**
 * Whether quiet hours' morning start starts a stopped instance at `now`: only with quietHours.morningStart, only
 * an instance whose stop record says the sweep stopped it for quiet hours (tags stop-rule and stopped-by), not
 * started since (its LaunchTime and no started-at after the stop), whose stop fell in a quiet period that has
 * ended less than MORNING_START_HOURS ago, and for which the next quiet hours are not about to begin.
 */
export function morningStartDecision(instance: Instance, policy: Policy, now: Date): MorningStartDecision {
  const nowMs = now.getTime();
  const no = (reason: string, period?: QuietPeriod): MorningStartDecision => ({
    start: false,
    reason,
    ...(period ? { period: { start: iso(period.start), end: iso(period.end) } } : {}),
  });
  const q = policy.quietHours;
  if (!q.morningStart) return no('morning start is off (quietHours.morningStart)');
  if (!q.kinds.includes(kindOf(instance))) return no('not a kind quiet hours cover');
  const tags = instance.tags;
  if (tags[TAGS.stopRule] !== 'quiet-hours' || tags[TAGS.stoppedBy] !== 'sweep') {
    return no('not stopped by quiet hours: only instances quiet hours stopped are started again');
  }
  const stoppedAt = Date.parse(tags[TAGS.stoppedAt] ?? '');
  if (!Number.isFinite(stoppedAt)) return no('its stop record has no valid stopped-at time');
  const launch = Date.parse(instance.launchTime);
  if (!Number.isFinite(launch)) return no('its last start time is unknown');
  if (launch >= stoppedAt) return no('started again since quiet hours stopped it');
  const started = Date.parse(tags[TAGS.startedAt] ?? '');
  if (Number.isFinite(started) && started >= stoppedAt) return no('already started again after this stop');
  const period = quietPeriods(policy, ownerOf(instance, policy), nowMs).find(
    (p) => p.start <= stoppedAt && stoppedAt < p.end,
  );
  if (!period) return no(`its stop at ${iso(stoppedAt)} falls in no quiet period of the policy`);
  if (nowMs < period.end) return no(`quiet hours last until ${iso(period.end)}`, period);
  if (nowMs >= period.end + MORNING_START_HOURS * 3_600_000) {
    return no(
      `quiet hours ended at ${iso(period.end)}, more than ${MORNING_START_HOURS} h ago: left stopped`,
      period,
    );
  }
  const next = quietPeriodFor(instance, policy, nowMs);
  if (next) return no(`the next quiet hours begin at ${iso(next.start)}: left stopped`, period);
  return {
    start: true,
    reason: `stopped by quiet hours at ${iso(stoppedAt)}; quiet hours ended at ${iso(period.end)}`,
    period: { start: iso(period.start), end: iso(period.end) },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
