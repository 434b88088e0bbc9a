/**
 * EventBridge schedule expressions (`rate(1 hour)`, `cron(0 8 * * ? *)`): how often they fire and when next.
 * Times are UTC, as EventBridge rules evaluate them.
 */

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The interval of a rate() expression in milliseconds; undefined for cron() or anything else. */
export function rateMs(expression: string): number | undefined {
  const m = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (!m) return undefined;
  const unit = UNIT_MS[(m[2] as string).replace(/s$/, '')];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** The values a cron field allows (`*`, `?`, lists, ranges, steps, names); undefined for what is not supported. */
function field(
  text: string,
  min: number,
  max: number,
  names: string[] = [],
  nameBase = min,
): Set<number> | undefined {
  const out = new Set<number>();
  const value = (v: string): number | undefined => {
    const i = names.indexOf(v.toUpperCase());
    if (i >= 0) return i + nameBase;
    return /^\d+$/.test(v) ? Number(v) : undefined;
  };
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) return undefined;
    const [, range = '', stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*' || range === '?') [from, to] = [min, max];
    else if (range.includes('-'))
      [from, to] = range.split('-').map(value) as [number | undefined, number | undefined];
    else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    if (from === undefined || to === undefined || step < 1 || from < min || to > max || from > to)
      return undefined;
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

/**
 * When a schedule fires next after `after` (UTC). rate(): one interval after `lastRun` (EventBridge counts rates
 * from when the rule was created, which the last run stands in for), or undefined without one. cron(): the next
 * matching minute within five years; undefined for fields this reader does not support (L, W, #).
 */
export function nextRun(expression: string, after: Date, lastRun?: Date): Date | undefined {
  const rate = rateMs(expression);
  if (rate !== undefined) {
    if (!lastRun) return undefined;
    let next = lastRun.getTime() + rate;
    while (next <= after.getTime()) next += rate;
    return new Date(next);
  }
  const m = /^cron\((.*)\)$/.exec(expression.trim());
  const parts = m?.[1]?.trim().split(/\s+/);
  if (parts?.length !== 6) return undefined;
  const [minF, hourF, domF, monF, dowF, yearF] = parts as [string, string, string, string, string, string];
  const minutes = field(minF, 0, 59);
  const hours = field(hourF, 0, 23);
  const doms = field(domF, 1, 31);
  const months = field(monF, 1, 12, MONTHS, 1);
  // EventBridge numbers days of the week 1 (SUN) to 7 (SAT).
  const dows = field(dowF, 1, 7, DAYS, 1);
  const years = field(yearF, 1970, 2199);
  if (!minutes || !hours || !doms || !months || !dows || !years) return undefined;
  const hourList = [...hours].sort((a, b) => a - b);
  const minuteList = [...minutes].sort((a, b) => a - b);
  const day = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate()));
  for (let i = 0; i < 366 * 5; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!years.has(day.getUTCFullYear()) || !months.has(day.getUTCMonth() + 1)) continue;
    const domOk = domF === '?' || doms.has(day.getUTCDate());
    const dowOk = dowF === '?' || dows.has(day.getUTCDay() + 1);
    if (!domOk || !dowOk) continue;
    for (const h of hourList) {
      for (const min of minuteList) {
        const at = new Date(day.getTime() + h * 3_600_000 + min * 60_000);
        if (at.getTime() > after.getTime()) return at;
      }
    }
  }
  return undefined;
}

/** The longest gap between two runs of a schedule (rate: its interval; cron: a day, or a week if weekly). */
export function intervalMs(expression: string): number {
  const rate = rateMs(expression);
  if (rate !== undefined) return rate;
  const parts = /^cron\((.*)\)$/.exec(expression.trim())?.[1]?.trim().split(/\s+/);
  const weekly =
    parts !== undefined && parts[4] !== '?' && parts[4] !== '*' && !(parts[4] ?? '').includes('-');
  return weekly ? 7 * 86_400_000 : 86_400_000;
}
