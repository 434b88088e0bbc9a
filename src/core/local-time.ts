/**
 * Times as people read them: every time in an email, a page, the plan table or the digest is shown in the
 * policy's `timeZone` ("Tue 1 Dec 14:30 (Europe/Berlin)"); ISO times stay in JSON and tags only. Also when the
 * sweep runs next, from its EventBridge schedule. Pure: the clock is an argument.
 */

import { rateMs, nextRun as scheduleNextRun } from './schedule.js';

/** An ISO 8601 date-time with a zone (what decisions, reports and tags carry), anywhere in a text. */
const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})(?![\w:.])/g;

/**
 * A time as people read it in `timeZone`: "Tue 3 Mar 13:40 (UTC)" or "Wed 4 Mar 09:00 (Europe/Berlin)"; with
 * `year`, "Wed 4 Mar 2026 09:00 (Europe/Berlin)"; with `zone: false` without the zone (table cells under a
 * heading that names it). Daylight saving time follows the zone's rules.
 */
export function formatLocalTime(
  at: Date,
  timeZone: string,
  options: { year?: boolean; zone?: boolean } = {},
): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const v = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const year = options.year ? ` ${v('year')}` : '';
  const zone = options.zone === false ? '' : ` (${timeZone})`;
  return `${v('weekday')} ${v('day')} ${v('month')}${year} ${v('hour')}:${v('minute')}${zone}`;
}

/**
 * A text for people with every ISO date-time in it (e.g. "will be stopped after 2026-12-01T13:30:00.000Z")
 * rewritten in `timeZone` ("will be stopped after Tue 1 Dec 14:30 (Europe/Berlin)"). The data the text came
 * from (decision reasons, tags, JSON) keeps its ISO times.
 */
export function localizeTimes(text: string, timeZone: string): string {
  return text.replace(ISO_TIME, (iso) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? formatLocalTime(new Date(ms), timeZone) : iso;
  });
}

/** When the sweep runs next, as far as its schedule tells. */
export type NextRun =
  /** `rate(...)`: every `everyMinutes`; EventBridge counts from when the rule was made, so only "by" is known. */
  | { kind: 'rate'; everyMinutes: number; by: Date }
  /** `cron(...)`: the next time it fires (EventBridge cron expressions are in UTC). */
  | { kind: 'cron'; at: Date }
  /** A cron expression this reader does not follow (L, W, #): no time is claimed. */
  | { kind: 'unknown' };

/** When an EventBridge schedule (`rate(1 hour)`, `cron(0 8 * * ? *)`) fires next after `now` (src/core/schedule.ts). */
export function nextRun(schedule: string, now: Date): NextRun {
  const rate = rateMs(schedule);
  if (rate !== undefined) {
    return { kind: 'rate', everyMinutes: rate / 60_000, by: new Date(now.getTime() + rate) };
  }
  const at = scheduleNextRun(schedule, now);
  return at ? { kind: 'cron', at } : { kind: 'unknown' };
}

/** "every hour", "every 30 minutes", "every 2 hours", "every day". */
export function everyText(minutes: number): string {
  if (minutes % 1440 === 0) return minutes === 1440 ? 'every day' : `every ${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? 'every hour' : `every ${minutes / 60} hours`;
  return minutes === 1 ? 'every minute' : `every ${minutes} minutes`;
}

/**
 * The sweep's rhythm and next run in words: "runs every hour; the next run is by Tue 1 Dec 15:30
 * (Europe/Berlin)", or "runs on the schedule cron(0 8 * * ? *); the next run is at Wed 2 Dec 09:00 (...)".
 */
export function nextRunText(schedule: string, now: Date, timeZone: string): string {
  const next = nextRun(schedule, now);
  if (next.kind === 'rate') {
    return `runs ${everyText(next.everyMinutes)}; the next run is by ${formatLocalTime(next.by, timeZone)}`;
  }
  if (next.kind === 'cron') {
    return `runs on the schedule ${schedule.trim()}; the next run is at ${formatLocalTime(next.at, timeZone)}`;
  }
  return `runs on the schedule ${schedule.trim()}`;
}

/** The calendar date of `at` in `timeZone`, as YYYY-MM-DD (e.g. for a digest's subject line). */
export function localDate(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
}

/** One formatter per time zone: building one costs more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The offset of `timeZone` from UTC at instant `ms` (local minus UTC), in milliseconds. */
export function zoneOffsetAt(ms: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(ms));
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const local = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
  return local - Math.floor(ms / 1000) * 1000;
}
