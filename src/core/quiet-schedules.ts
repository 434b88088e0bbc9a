/**
 * The sweep runs quiet hours add to the stack (serverless.yml reads them through scripts/serverless-params.cjs), so
 * that warnings and stops happen on time whatever the sweep's own schedule. EventBridge schedule rules fire in UTC,
 * so each window gets, for every UTC offset its time zone uses within a year of packaging, one cron at its warning
 * time (start - graceMinutes - QUIET_HOURS_LEAD_MINUTES), one at its start and, with morningStart, one at its end.
 * On any day one offset is the right one; the others give an extra sweep that finds nothing to do. Pure.
 */
import { PolicyError } from './errors.js';
import { DAY_NAMES, minutesOfDay, type Policy, parsePolicyText } from './policy.js';
import { zoneOffsetAt } from './local-time.js';
import { QUIET_HOURS_LEAD_MINUTES } from './quiet-hours.js';

/**
 * Most quiet-hours schedules one stack gets. Each is an EventBridge rule plus a statement in the sweep function's
 * resource policy, which Lambda caps at 20 KB (about 50 statements).
 */
export const MAX_QUIET_SCHEDULES = 40;

const EVENTBRIDGE_DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const WEEK_MINUTES = 7 * 1440;

/** The distinct UTC offsets (minutes) `timeZone` uses from a year before to a year after `now`. */
export function zoneOffsets(timeZone: string, now: Date): number[] {
  const out = new Set<number>();
  for (let h = -366 * 24; h <= 366 * 24; h += 6) {
    out.add(Math.round(zoneOffsetAt(now.getTime() + h * 3_600_000, timeZone) / 60_000));
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The UTC cron expressions of the extra sweeps quiet hours need (empty without windows), in a stable order.
 * Throws a PolicyError when there would be more than MAX_QUIET_SCHEDULES.
 */
export function quietHoursSchedules(policy: Policy, now: Date = new Date()): string[] {
  const q = policy.quietHours;
  if (q.windows.length === 0) return [];
  const lead = policy.graceMinutes + QUIET_HOURS_LEAD_MINUTES;
  // UTC minute of the day -> the UTC days of the week it fires on.
  const byTime = new Map<number, Set<number>>();
  for (const w of q.windows) {
    const zones =
      w.timeZone !== undefined
        ? [w.timeZone]
        : [...new Set([policy.timeZone, ...Object.values(q.ownerTimeZones)])];
    const from = minutesOfDay(w.from);
    const to = minutesOfDay(w.to);
    const length = to > from ? to - from : to + 1440 - from;
    const times = [from - lead, from, ...(q.morningStart ? [from + length] : [])];
    for (const zone of zones) {
      for (const offset of zoneOffsets(zone, now)) {
        for (const day of w.days) {
          for (const t of times) {
            const utc = mod(DAY_NAMES.indexOf(day) * 1440 + t - offset, WEEK_MINUTES);
            const minute = utc % 1440;
            const days = byTime.get(minute) ?? new Set<number>();
            days.add(Math.floor(utc / 1440));
            byTime.set(minute, days);
          }
        }
      }
    }
  }
  const crons = [...byTime.entries()]
    .sort(([a], [b]) => a - b)
    .map(([minute, days]) => {
      const dow =
        days.size === 7
          ? '*'
          : [...days]
              .sort((a, b) => a - b)
              .map((d) => EVENTBRIDGE_DAYS[d])
              .join(',');
      return `cron(${minute % 60} ${Math.floor(minute / 60)} ? * ${dow} *)`;
    });
  if (crons.length > MAX_QUIET_SCHEDULES) {
    throw new PolicyError('quietHours needs too many sweep schedules; nothing was changed.', [
      `quietHours.windows: these windows, their time zones and daylight saving time need ${crons.length} schedules (at most ${MAX_QUIET_SCHEDULES}): use fewer windows, windows that start at the same times, or fewer ownerTimeZones`,
    ]);
  }
  return crons;
}

/** Every schedule of the sweep: the policy's own, then the quiet-hours ones. */
export function sweepSchedules(policy: Policy, now: Date = new Date()): string[] {
  return [...new Set([policy.schedule, ...quietHoursSchedules(policy, now)])];
}

/**
 * The event the quiet-hours schedules send the sweep instead of EventBridge's Scheduled Event. Such a run is extra:
 * it records no usage, because each run of the policy's schedule counts the hours of one interval of it.
 */
export const QUIET_HOURS_RUN_INPUT = { run: 'quiet-hours' } as const;

/** Whether a sweep invocation is one of the quiet-hours runs (its event is QUIET_HOURS_RUN_INPUT). */
export function isQuietHoursRun(event: unknown): boolean {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as { run?: unknown }).run === QUIET_HOURS_RUN_INPUT.run
  );
}

/** A schedule event of the sweep function as serverless.yml declares it. */
export interface SweepScheduleEvent {
  schedule: { rate: string[]; description: string; input?: Record<string, string> };
}

/** What the stack needs to know about quiet hours. */
export interface QuietHoursDeployment {
  /** The sweep's schedules (the policy's first). */
  schedules: string[];
  /**
   * The sweep function's events: the policy's schedule, then (with quiet hours) the quiet-hours crons, which send
   * QUIET_HOURS_RUN_INPUT.
   */
  events: SweepScheduleEvent[];
  /** The sweep may start the instances quiet hours stopped (IAM ec2:StartInstances, tag-conditioned). */
  morningStart: boolean;
}

/**
 * Reads what the stack needs from the text of watchdog.yml, validating the keys it uses (schedule, timeZone,
 * graceMinutes, quietHours) as the functions will: a bad window fails the packaging with the field and value.
 */
export function quietHoursDeployment(
  text: string,
  source = 'watchdog.yml',
  now: Date = new Date(),
): QuietHoursDeployment {
  const policy = parsePolicyText(text, source, ['schedule', 'timeZone', 'graceMinutes', 'quietHours']);
  const quiet = quietHoursSchedules(policy, now).filter((c) => c !== policy.schedule);
  const events: SweepScheduleEvent[] = [
    { schedule: { rate: [policy.schedule], description: 'cost-watchdog sweep' } },
  ];
  if (quiet.length > 0) {
    events.push({
      schedule: {
        rate: quiet,
        description: 'cost-watchdog sweep at the edges of quiet hours',
        input: { ...QUIET_HOURS_RUN_INPUT },
      },
    });
  }
  return {
    schedules: [policy.schedule, ...quiet],
    events,
    morningStart: policy.quietHours.morningStart,
  };
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}
