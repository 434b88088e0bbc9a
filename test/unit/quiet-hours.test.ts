/**
 * Quiet hours (policy quietHours): the windows as the policy accepts them, the quiet periods they make in time zones
 * with and without daylight saving time, the rule's warn-then-stop timing in evaluate(), the keep links, and the
 * extra sweep schedules the stack gets. The clock is always an argument.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildActionLinks } from '../../src/core/action-links.js';
import { PolicyError } from '../../src/core/errors.js';
import { evaluate, parseSnooze } from '../../src/core/evaluate.js';
import type { Instance } from '../../src/core/instance.js';
import { nextRun } from '../../src/core/local-time.js';
import { parsePolicyText, type Policy, TAGS } from '../../src/core/policy.js';
import {
  describeDays,
  localTimeToInstant,
  QUIET_HOURS_LEAD_MINUTES,
  type QuietPeriod,
  quietPeriods,
} from '../../src/core/quiet-hours.js';
import {
  MAX_QUIET_SCHEDULES,
  quietHoursDeployment,
  quietHoursSchedules,
  zoneOffsets,
} from '../../src/core/quiet-schedules.js';
import { signActionLinks } from '../../src/jobs/action-links.js';
import { makeInstance, policyWith } from '../support/fleet.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const KEY = 'k'.repeat(40);
const MINUTE = 60_000;

/** Weeknights 22:00-07:00 in Berlin, a 60-minute grace. */
function berlinNights(changes: Record<string, unknown> = {}): Policy {
  return policyWith({
    timeZone: 'Europe/Berlin',
    graceMinutes: 60,
    quietHours: { windows: [{ days: WEEKDAYS, from: '22:00', to: '07:00' }], ...changes },
  });
}

const at = (iso: string) => new Date(iso);
const ms = (iso: string) => Date.parse(iso);
const span = (p: QuietPeriod | undefined) =>
  p ? [new Date(p.start).toISOString(), new Date(p.end).toISOString()] : undefined;

/** The quiet period that starts (or, with `containing`, holds) at or after `from`. */
function periodFrom(policy: Policy, from: string, owner?: string): QuietPeriod | undefined {
  return quietPeriods(policy, owner, ms(from)).find((p) => p.end > ms(from));
}

/** A running t3.micro launched on Wed 25 Nov 2026 12:00 UTC: only quiet hours can hold without metrics. */
function student(tags: Record<string, string> = {}, overrides: Partial<Instance> = {}): Instance {
  return makeInstance({
    launchTime: '2026-11-25T12:00:00.000Z',
    tags: { Name: 'notebook', Owner: 'alice', ...tags },
    ...overrides,
  });
}

function warned(atIso: string): Record<string, string> {
  return { [TAGS.warnedAt]: atIso, [TAGS.warnRule]: 'quiet-hours' };
}

describe('the quietHours policy', () => {
  it('accepts windows with day names in any case or in full, "24:00", a time zone, and overlapping windows', () => {
    const policy = parsePolicyText(
      [
        'quietHours:',
        '  windows:',
        '    - { days: [Mon, TUESDAY, wed, wed], from: "22:00", to: "07:00" }',
        '    - { days: [sat, sun], from: "00:00", to: "24:00", timeZone: America/New_York }',
        '    - { days: [sat], from: "20:00", to: "23:00" }',
        '  morningStart: true',
        '  ownerTimeZones: { alice: Asia/Tokyo }',
      ].join('\n'),
    );

    expect(policy.quietHours.windows.map((w) => [w.days, w.from, w.to, w.timeZone])).toEqual([
      [['mon', 'tue', 'wed'], '22:00', '07:00', undefined],
      [['sat', 'sun'], '00:00', '24:00', 'America/New_York'],
      [['sat'], '20:00', '23:00', undefined],
    ]);
    expect(policy.quietHours).toMatchObject({
      kinds: ['ec2'],
      action: 'stop',
      morningStart: true,
      ownerTimeZones: { alice: 'Asia/Tokyo' },
    });
  });

  it('is off by default: no windows, no morning start', () => {
    expect(policyWith().quietHours).toEqual({
      windows: [],
      kinds: ['ec2'],
      action: 'stop',
      morningStart: false,
      ownerTimeZones: {},
    });
  });

  it.each([
    [
      'an unknown day name',
      '{ days: [mon, fryday], from: "22:00", to: "07:00" }',
      /quietHours\.windows\.0\.days\.1: "fryday" is not a day of the week \(allowed: mon, tue/,
    ],
    [
      'an hour past 23',
      '{ from: "25:00", to: "07:00" }',
      /quietHours\.windows\.0\.from: "25:00" is not a time of day "HH:MM" on the 24-hour clock/,
    ],
    [
      'a time without minutes',
      '{ from: "22", to: "07:00" }',
      /quietHours\.windows\.0\.from: "22" is not a time of day "HH:MM"/,
    ],
    [
      'a number instead of a time',
      '{ from: 2200, to: "07:00" }',
      /quietHours\.windows\.0\.from: 2200 is not a time of day "HH:MM".*quote it in YAML/,
    ],
    [
      '"24:00" as a start',
      '{ from: "24:00", to: "07:00" }',
      /quietHours\.windows\.0\.from: "24:00" is not a time of day/,
    ],
    [
      'a window without length',
      '{ from: "22:00", to: "22:00" }',
      /quietHours\.windows\.0\.to: "22:00" is the same time as from "22:00": a window needs a length/,
    ],
    [
      'an unknown time zone',
      '{ from: "22:00", to: "07:00", timeZone: Europe/Atlantis }',
      /quietHours\.windows\.0\.timeZone: unknown time zone "Europe\/Atlantis"/,
    ],
    [
      'an unknown key',
      '{ from: "22:00", to: "07:00", until: "08:00" }',
      /quietHours\.windows\.0\.until: unknown key/,
    ],
    ['a missing from', '{ to: "07:00" }', /quietHours\.windows\.0\.from: nothing is not a time of day/],
  ])('refuses a window with %s, naming the field and the value', (_case, window, message) => {
    const text = `quietHours:\n  windows:\n    - ${window}\n`;

    expect(() => parsePolicyText(text)).toThrow(PolicyError);
    expect(() => parsePolicyText(text)).toThrow(message);
  });

  it.each([
    ['an unknown kind', 'kinds: [rds]', /quietHours\.kinds\.0: must be one of "ec2"/],
    ['no kinds', 'kinds: []', /quietHours\.kinds: Too small/],
    ['an unknown action', 'action: terminate', /quietHours\.action: must be one of "stop", "report"/],
    [
      "an owner's unknown time zone",
      'ownerTimeZones: { alice: Mars/Base }',
      /quietHours\.ownerTimeZones\.alice: unknown time zone "Mars\/Base"/,
    ],
  ])('refuses %s', (_case, line, message) => {
    expect(() => parsePolicyText(`quietHours:\n  ${line}\n`)).toThrow(message);
  });

  it('shows days as a timetable reads them', () => {
    expect(describeDays(['mon', 'tue', 'wed', 'thu', 'fri'])).toBe('mon-fri');
    expect(describeDays(['sat', 'sun'])).toBe('sat,sun');
    expect(describeDays(['sun', 'mon', 'wed', 'thu', 'fri'])).toBe('mon,wed-fri,sun');
    expect(describeDays(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])).toBe('every day');
  });
});

describe('quiet periods across daylight saving time', () => {
  it.each([
    // Europe/Berlin: clocks go forward on Sun 29 Mar 2026 02:00 -> 03:00, back on Sun 25 Oct 2026 03:00 -> 02:00.
    [
      'Europe/Berlin',
      'spring',
      '2026-03-28T12:00:00Z',
      '2026-03-28T21:00:00.000Z',
      '2026-03-29T05:00:00.000Z',
      8,
    ],
    [
      'Europe/Berlin',
      'autumn',
      '2026-10-24T12:00:00Z',
      '2026-10-24T20:00:00.000Z',
      '2026-10-25T06:00:00.000Z',
      10,
    ],
    // America/New_York: forward on Sun 8 Mar 2026 02:00 -> 03:00, back on Sun 1 Nov 2026 02:00 -> 01:00.
    [
      'America/New_York',
      'spring',
      '2026-03-07T12:00:00Z',
      '2026-03-08T03:00:00.000Z',
      '2026-03-08T11:00:00.000Z',
      8,
    ],
    [
      'America/New_York',
      'autumn',
      '2026-10-31T12:00:00Z',
      '2026-11-01T02:00:00.000Z',
      '2026-11-01T12:00:00.000Z',
      10,
    ],
  ])(
    'a Saturday night 22:00-07:00 in %s over the %s change starts and ends on the local clock',
    (zone, _s, from, start, end, hours) => {
      const policy = policyWith({
        timeZone: zone,
        quietHours: { windows: [{ days: ['sat'], from: '22:00', to: '07:00' }] },
      });

      const p = periodFrom(policy, from);

      expect(span(p)).toEqual([start, end]);
      expect(((p?.end ?? 0) - (p?.start ?? 0)) / 3_600_000).toBe(hours);
    },
  );

  it('moves a start in the skipped hour forward by the change, and takes the first of a repeated hour', () => {
    // 02:30 does not exist in Berlin on 29 Mar 2026; it exists twice on 25 Oct 2026.
    expect(new Date(localTimeToInstant(2026, 2, 29, 150, 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
    expect(new Date(localTimeToInstant(2026, 9, 25, 150, 'Europe/Berlin')).toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    expect(new Date(localTimeToInstant(2026, 2, 8, 150, 'America/New_York')).toISOString()).toBe(
      '2026-03-08T07:30:00.000Z',
    );
  });

  it('runs a window inside the skipped hour an hour later that night, and skips one the change leaves no time', () => {
    const policy = (from: string, to: string) =>
      policyWith({
        timeZone: 'Europe/Berlin',
        quietHours: { windows: [{ days: ['sun'], from, to }] },
      });
    const starts = (p: Policy) =>
      quietPeriods(p, undefined, ms('2026-04-03T12:00:00Z')).map((q) => span(q)?.join(' '));

    // 02:10-02:50 on 29 Mar 2026 becomes 03:10-03:50 CEST; a week later it is 02:10-02:50 CEST again.
    expect(starts(policy('02:10', '02:50'))).toEqual([
      '2026-03-29T01:10:00.000Z 2026-03-29T01:50:00.000Z',
      '2026-04-05T00:10:00.000Z 2026-04-05T00:50:00.000Z',
    ]);
    // 02:30-03:00: its start moves to 03:30, after its end at 03:00: no quiet hours that night.
    expect(starts(policy('02:30', '03:00'))).toEqual(['2026-04-05T00:30:00.000Z 2026-04-05T01:00:00.000Z']);
  });
});

describe('weekends and overlapping windows', () => {
  it('joins weeknights and whole weekend days into one period from Friday 22:00 to Monday 07:00', () => {
    const policy = policyWith({
      timeZone: 'Europe/Berlin',
      quietHours: {
        windows: [
          { days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '22:00', to: '07:00' },
          { days: ['sat', 'sun'], from: '00:00', to: '24:00' },
        ],
      },
    });

    // Fri 27 Nov 2026 22:00 CET to Mon 30 Nov 07:00 CET.
    expect(span(periodFrom(policy, '2026-11-27T12:00:00Z'))).toEqual([
      '2026-11-27T21:00:00.000Z',
      '2026-11-30T06:00:00.000Z',
    ]);
  });

  it('leaves weekends out of a mon-fri window that starts on weekday evenings (Friday night runs into Saturday)', () => {
    const policy = berlinNights();

    const friday = periodFrom(policy, '2026-11-27T12:00:00Z');
    const next = periodFrom(policy, '2026-11-28T12:00:00Z');

    expect(span(friday)).toEqual(['2026-11-27T21:00:00.000Z', '2026-11-28T06:00:00.000Z']);
    expect(span(next)).toEqual(['2026-11-30T21:00:00.000Z', '2026-12-01T06:00:00.000Z']);
  });

  it('joins overlapping windows, also in different time zones, and names each', () => {
    const policy = policyWith({
      timeZone: 'UTC',
      quietHours: {
        windows: [
          { days: ['wed'], from: '20:00', to: '23:00' },
          { days: ['wed'], from: '22:00', to: '02:00' },
          // 03:00 in Berlin is 02:00 UTC in November: adjoins the one before.
          { days: ['thu'], from: '03:00', to: '04:00', timeZone: 'Europe/Berlin' },
        ],
      },
    });

    const p = periodFrom(policy, '2026-11-25T12:00:00Z');

    expect(span(p)).toEqual(['2026-11-25T20:00:00.000Z', '2026-11-26T03:00:00.000Z']);
    expect(p?.windows).toEqual([
      'wed 20:00-23:00 UTC',
      'wed 22:00-02:00 UTC',
      'thu 03:00-04:00 Europe/Berlin',
    ]);
  });
});

describe("an owner's time zone", () => {
  const policy = policyWith({
    timeZone: 'UTC',
    quietHours: {
      windows: [
        { from: '22:00', to: '07:00' },
        { days: ['sun'], from: '16:00', to: '17:00', timeZone: 'Europe/Berlin' },
      ],
      ownerTimeZones: { alice: 'America/New_York' },
    },
  });

  it("reads a window without a time zone on the owner's clock, else on the policy's", () => {
    expect(span(periodFrom(policy, '2026-11-25T12:00:00Z', 'alice'))).toEqual([
      '2026-11-26T03:00:00.000Z',
      '2026-11-26T12:00:00.000Z',
    ]);
    expect(span(periodFrom(policy, '2026-11-25T12:00:00Z', 'bob'))).toEqual([
      '2026-11-25T22:00:00.000Z',
      '2026-11-26T07:00:00.000Z',
    ]);
  });

  it('keeps a window with a time zone of its own on that clock for every owner', () => {
    for (const owner of ['alice', 'bob', undefined]) {
      expect(span(periodFrom(policy, '2026-11-29T13:00:00Z', owner))).toEqual([
        '2026-11-29T15:00:00.000Z',
        '2026-11-29T16:00:00.000Z',
      ]);
    }
  });

  it("judges an instance by its owner tag: alice's machine is warned five hours later than bob's", () => {
    const alice = student({ Owner: 'alice' });
    const bob = student({ Owner: 'bob' });

    expect(evaluate(bob, undefined, policy, at('2026-11-25T20:55:00Z')).rule).toBe('quiet-hours');
    expect(evaluate(alice, undefined, policy, at('2026-11-25T20:55:00Z')).rule).toBeNull();
    expect(evaluate(alice, undefined, policy, at('2026-11-26T01:55:00Z')).rule).toBe('quiet-hours');
  });
});

describe('the quiet-hours rule: warned before the window, stopped at its start', () => {
  // Wednesday 25 Nov 2026: the window starts at 22:00 CET = 21:00 UTC; grace 60 + 5 minutes before is 19:55 UTC.
  const policy = berlinNights();

  it.each([
    ['just before the warning time', '2026-11-25T19:54:00Z', {}, 'none', false, null],
    [
      'at grace + 5 min before the window',
      '2026-11-25T19:55:00Z',
      {},
      'warn',
      true,
      '2026-11-25T21:00:00.000Z',
    ],
    [
      'between the warning and the window (the warning stays)',
      '2026-11-25T20:59:00Z',
      warned('2026-11-25T19:55:00.000Z'),
      'warn',
      false,
      '2026-11-25T21:00:00.000Z',
    ],
    [
      'at the window start',
      '2026-11-25T21:00:00Z',
      warned('2026-11-25T19:55:00.000Z'),
      'stop',
      false,
      '2026-11-25T21:00:00.000Z',
    ],
    [
      'at the start after a late warning (the whole grace still applies)',
      '2026-11-25T21:00:00Z',
      warned('2026-11-25T20:30:00.000Z'),
      'warn',
      false,
      '2026-11-25T21:30:00.000Z',
    ],
    [
      'one grace after a late warning',
      '2026-11-25T21:30:00Z',
      warned('2026-11-25T20:30:00.000Z'),
      'stop',
      false,
      '2026-11-25T21:30:00.000Z',
    ],
    ['started in the night', '2026-11-26T02:00:00Z', {}, 'warn', true, '2026-11-26T03:00:00.000Z'],
    ['on a Saturday evening (not in mon-fri)', '2026-11-28T21:00:00Z', {}, 'none', false, null],
  ])('%s: %s', (_case, now, tags, action, newWarning, stopAfter) => {
    // Started three hours before: never over its uptime limit here.
    const launchTime = new Date(ms(now) - 3 * 3_600_000).toISOString();
    const d = evaluate(student(tags, { launchTime }), undefined, policy, at(now));

    expect(d.action).toBe(action);
    expect(d.newWarning).toBe(newWarning);
    expect(d.stopAfter).toBe(stopAfter);
    expect(d.clearWarning).toBe(false);
    if (action !== 'none') expect(d.rule).toBe('quiet-hours');
  });

  it('says when quiet hours run and when the stop comes, with the window', () => {
    const d = evaluate(student(), undefined, policy, at('2026-11-25T19:55:00Z'));

    expect(d.reasons).toContain(
      'quiet hours from 2026-11-25T21:00:00.000Z until 2026-11-26T06:00:00.000Z (mon-fri 22:00-07:00 Europe/Berlin)',
    );
    expect(d.reasons).toContain('will be stopped after 2026-11-25T21:00:00.000Z unless this changes');
    expect(d.measured.quietHours).toEqual({
      start: '2026-11-25T21:00:00.000Z',
      end: '2026-11-26T06:00:00.000Z',
      timeZone: 'Europe/Berlin',
    });
  });

  it('clears a warning once quiet hours are over', () => {
    const d = evaluate(
      student(warned('2026-11-26T05:30:00.000Z')),
      undefined,
      policy,
      at('2026-11-26T06:00:00Z'),
    );

    expect(d.action).toBe('none');
    expect(d.clearWarning).toBe(true);
  });

  it.each([
    ['exempt', { [TAGS.exempt]: 'true' }, {}, 'exempt'],
    ['snoozed', { [TAGS.exempt]: '2026-11-26T08:00:00.000Z' }, {}, 'snoozed'],
    ['an Auto Scaling member', { 'aws:autoscaling:groupName': 'lab' }, {}, 'auto-scaling'],
    ['stop-protected', {}, { stopProtected: true }, 'stop-protected'],
    ['a spot instance', {}, { lifecycle: 'spot' }, 'spot'],
  ])('never stops an instance that is %s, only reports it', (_case, tags, overrides, protection) => {
    const d = evaluate(
      student({ ...warned('2026-11-25T19:55:00.000Z'), ...tags }, overrides),
      undefined,
      policy,
      at('2026-11-25T21:00:00Z'),
    );

    expect(d.action).toBe('report');
    expect(d.rule).toBe('quiet-hours');
    expect(d.protection).toBe(protection);
  });

  it('covers notebooks and databases only when quietHours.kinds names them', () => {
    const notebook = student({}, { kind: 'sagemaker-notebook', instanceType: 'ml.t3.medium' });
    const database = student({}, { kind: 'rds-instance', instanceType: 'db.t3.micro' });
    const withKinds = berlinNights({ kinds: ['ec2', 'sagemaker-notebook'] });
    const evening = at('2026-11-25T19:55:00Z');

    expect(evaluate(notebook, undefined, policy, evening).rulesHolding).not.toContain('quiet-hours');
    expect(evaluate(notebook, undefined, withKinds, evening)).toMatchObject({
      action: 'warn',
      rule: 'quiet-hours',
      stopAfter: '2026-11-25T21:00:00.000Z',
    });
    expect(evaluate(database, undefined, withKinds, evening).rulesHolding).not.toContain('quiet-hours');
    expect(() =>
      parsePolicyText(
        'quietHours:\n  windows: [{ days: [mon], from: "22:00", to: "07:00" }]\n  kinds: [ec2, lambda]\n',
      ),
    ).toThrow(/quietHours\.kinds\.1: must be one of .*"sagemaker-notebook".*; got "lambda"/);
  });

  it('only reports with action report: no warning, no stop', () => {
    const report = berlinNights({ action: 'report' });

    const before = evaluate(student(), undefined, report, at('2026-11-25T19:55:00Z'));
    const during = evaluate(student(), undefined, report, at('2026-11-25T23:00:00Z'));

    expect([before.action, before.newWarning, during.action]).toEqual(['report', false, 'report']);
  });

  it('warns for quiet hours first when another rule holds too, so the stop comes at the window start', () => {
    const overUptime = student({}, { launchTime: '2026-11-24T12:00:00.000Z' });

    const d = evaluate(overUptime, undefined, policy, at('2026-11-25T19:55:00Z'));

    expect(d.rulesHolding).toEqual(['quiet-hours', 'over-uptime']);
    expect([d.action, d.rule, d.stopAfter]).toEqual(['warn', 'quiet-hours', '2026-11-25T21:00:00.000Z']);
  });

  it('never stops before the window starts, whatever the warning', () => {
    // A warning without a rule (an old or foreign tag value) long ago.
    const d = evaluate(
      student({ [TAGS.warnedAt]: '2026-11-25T12:30:00.000Z' }),
      undefined,
      policy,
      at('2026-11-25T20:30:00Z'),
    );

    expect([d.action, d.stopAfter]).toEqual(['warn', '2026-11-25T21:00:00.000Z']);
  });
});

describe('keep links of a quiet-hours warning', () => {
  it('keeps "until tomorrow 09:00" when that is after the window, and until the window ends when that is later', async () => {
    const weekend = policyWith({
      timeZone: 'Europe/Berlin',
      quietHours: {
        windows: [
          // Sunday night too: Monday morning is quiet until 07:00.
          { days: ['sun', ...WEEKDAYS], from: '22:00', to: '07:00' },
          { days: ['sat', 'sun'], from: '00:00', to: '24:00' },
        ],
      },
    });
    const keys = { readOrCreate: async () => KEY };
    const sign = async (policy: Policy, now: string) => {
      const d = evaluate(student(), undefined, policy, at(now));
      const links = await signActionLinks([{ ...d, warnedAt: now }], {
        actionsUrl: 'https://example.com/',
        account: '123456789012',
        keys,
        policy,
        now: at(now),
      });
      return links.get(d.instanceId)?.keepTomorrowUntil;
    };

    // Wednesday night: until Thursday 09:00 CET (after the window's 07:00).
    expect(await sign(berlinNights(), '2026-11-25T19:55:00.000Z')).toBe('2026-11-26T08:00:00.000Z');
    // Friday night into the weekend: until Monday 07:00 CET, the end of the quiet hours, not Saturday 09:00.
    expect(await sign(weekend, '2026-11-27T19:55:00.000Z')).toBe('2026-11-30T06:00:00.000Z');
  });

  it('a snooze set as the keep link sets it protects the instance through the whole window', () => {
    const policy = berlinNights();
    const links = buildActionLinks({
      baseUrl: 'https://example.com/',
      key: KEY,
      instanceId: 'i-0123456789abcdef0',
      region: 'us-east-1',
      account: '123456789012',
      warnedAt: '2026-11-25T19:55:00.000Z',
      now: at('2026-11-25T19:55:00Z'),
      timeZone: 'Europe/Berlin',
      keepAtLeastUntil: '2026-11-26T06:00:00.000Z',
    });
    const kept = student({ [TAGS.exempt]: links.keepTomorrowUntil });

    const during = ['2026-11-25T21:00:00Z', '2026-11-26T03:00:00Z', '2026-11-26T05:59:00Z'].map(
      (t) => evaluate(kept, undefined, policy, at(t)).action,
    );

    expect(parseSnooze(links.keepTomorrowUntil)).toBe(ms('2026-11-26T08:00:00Z'));
    expect(during).toEqual(['report', 'report', 'report']);
  });
});

describe('the sweep schedules quiet hours add', () => {
  it('gives a mon-fri 22:00 Berlin window a UTC cron at the warning time and at the start for winter and summer time', () => {
    expect(quietHoursSchedules(berlinNights(), at('2026-11-25T14:00:00Z'))).toEqual([
      'cron(55 18 ? * MON,TUE,WED,THU,FRI *)',
      'cron(55 19 ? * MON,TUE,WED,THU,FRI *)',
      'cron(0 20 ? * MON,TUE,WED,THU,FRI *)',
      'cron(0 21 ? * MON,TUE,WED,THU,FRI *)',
    ]);
  });

  it('moves the day with the time: Monday 00:30 in Berlin is Sunday evening in UTC', () => {
    const policy = policyWith({
      timeZone: 'Europe/Berlin',
      graceMinutes: 60,
      quietHours: { windows: [{ days: ['mon'], from: '00:30', to: '06:00' }] },
    });

    expect(quietHoursSchedules(policy, at('2026-11-25T14:00:00Z'))).toEqual([
      'cron(25 21 ? * SUN *)',
      'cron(25 22 ? * SUN *)',
      'cron(30 22 ? * SUN *)',
      'cron(30 23 ? * SUN *)',
    ]);
  });

  it('adds the window ends with morningStart, and none at all without windows', () => {
    const withStart = quietHoursSchedules(berlinNights({ morningStart: true }), at('2026-11-25T14:00:00Z'));

    expect(withStart).toEqual(
      expect.arrayContaining(['cron(0 5 ? * TUE,WED,THU,FRI,SAT *)', 'cron(0 6 ? * TUE,WED,THU,FRI,SAT *)']),
    );
    expect(withStart).toHaveLength(6);
    expect(quietHoursSchedules(policyWith(), at('2026-11-25T14:00:00Z'))).toEqual([]);
  });

  it.each([
    [
      'Europe/Berlin',
      [
        { days: WEEKDAYS, from: '22:00', to: '07:00' },
        { days: ['sun'], from: '02:30', to: '06:00' },
      ],
    ],
    [
      'America/New_York',
      [
        { from: '23:30', to: '06:00' },
        { days: ['sat', 'sun'], from: '00:00', to: '24:00' },
      ],
    ],
    ['Asia/Kolkata', [{ days: ['mon', 'wed'], from: '00:15', to: '05:45' }]],
  ])(
    'has a cron firing exactly at every warning time, start and end of a year of quiet periods in %s',
    (zone, windows) => {
      const policy = policyWith({
        timeZone: zone,
        graceMinutes: 45,
        quietHours: { windows, morningStart: true },
      });
      const crons = quietHoursSchedules(policy, at('2026-01-01T00:00:00Z'));
      const fires = (t: number) =>
        crons.some((c) => {
          const next = nextRun(c, new Date(t - MINUTE));
          return next.kind === 'cron' && next.at.getTime() === t;
        });
      const lead = (45 + QUIET_HOURS_LEAD_MINUTES) * MINUTE;
      const periods = new Map<number, QuietPeriod>();
      for (let t = ms('2026-01-01T00:00:00Z'); t < ms('2027-01-01T00:00:00Z'); t += 7 * 86_400_000) {
        for (const p of quietPeriods(policy, undefined, t)) periods.set(p.start, p);
      }

      const missed = [...periods.values()].flatMap((p) =>
        [
          ['warning', p.start - lead],
          ['start', p.start],
          ['end', p.end],
        ]
          .filter(([, t]) => !fires(t as number))
          .map(([what, t]) => `${what} ${new Date(t as number).toISOString()}`),
      );

      expect(periods.size).toBeGreaterThan(40);
      expect(missed).toEqual([]);
    },
  );

  it('knows both offsets of a zone with daylight saving time and the one of a zone without', () => {
    expect(zoneOffsets('Europe/Berlin', at('2026-06-01T00:00:00Z'))).toEqual([60, 120]);
    expect(zoneOffsets('America/New_York', at('2026-06-01T00:00:00Z'))).toEqual([-300, -240]);
    expect(zoneOffsets('Asia/Kolkata', at('2026-06-01T00:00:00Z'))).toEqual([330]);
  });

  it('refuses more schedules than a stack can hold, saying how to fix it', () => {
    const times = Array.from({ length: 12 }, (_, i) => ({
      from: `${String(i * 2).padStart(2, '0')}:10`,
      to: `${String(i * 2 + 1).padStart(2, '0')}:00`,
    }));
    const policy = policyWith({ timeZone: 'Europe/Berlin', quietHours: { windows: times } });

    expect(() => quietHoursSchedules(policy)).toThrow(PolicyError);
    expect(() => quietHoursSchedules(policy)).toThrow(
      new RegExp(`need \\d+ schedules \\(at most ${MAX_QUIET_SCHEDULES}\\): use fewer windows`),
    );
  });

  it('reads what the stack needs from watchdog.yml, the policy schedule first, and names a bad window', () => {
    const text = [
      'schedule: rate(30 minutes)',
      'timeZone: UTC',
      'graceMinutes: 30',
      'accounts: [{ id: "not checked here" }]',
      'quietHours:',
      '  morningStart: true',
      '  windows: [{ days: [sat], from: "20:00", to: "08:00" }]',
    ].join('\n');

    const crons = ['cron(0 8 ? * SUN *)', 'cron(25 19 ? * SAT *)', 'cron(0 20 ? * SAT *)'];
    expect(quietHoursDeployment(text)).toEqual({
      schedules: ['rate(30 minutes)', ...crons],
      events: [
        { schedule: { rate: ['rate(30 minutes)'], description: 'cost-watchdog sweep' } },
        {
          schedule: {
            rate: crons,
            description: 'cost-watchdog sweep at the edges of quiet hours',
            input: { run: 'quiet-hours' },
          },
        },
      ],
      morningStart: true,
    });
    expect(quietHoursDeployment('')).toEqual({
      schedules: ['rate(1 hour)'],
      events: [{ schedule: { rate: ['rate(1 hour)'], description: 'cost-watchdog sweep' } }],
      morningStart: false,
    });
    expect(() => quietHoursDeployment('quietHours:\n  windows: [{ from: "7pm", to: "08:00" }]\n')).toThrow(
      /watchdog\.yml is invalid.*\n.*quietHours\.windows\.0\.from: "7pm" is not a time of day/,
    );
  });
});

describe('the examples people copy', () => {
  /** Friday 27 Nov 2026 22:00 to Monday 30 Nov 07:00 on the policy's clock. */
  const weekend = (policy: Policy) => span(periodFrom(policy, '2026-11-27T12:00:00Z'));

  it('docs/quiet-hours.md: one quiet period from Friday 22:00 to Monday 07:00 in Berlin, and its 8 crons', () => {
    const text = /```yaml\n([\s\S]*?)```/.exec(readFileSync('docs/quiet-hours.md', 'utf8'))?.[1] ?? '';

    const policy = parsePolicyText(text);

    expect(weekend(policy)).toEqual(['2026-11-27T21:00:00.000Z', '2026-11-30T06:00:00.000Z']);
    expect(quietHoursSchedules(policy, at('2026-11-25T00:00:00Z'))).toHaveLength(8);
  });

  it("watchdog.yml's commented example, uncommented, means the same on the policy's clock", () => {
    const lines = readFileSync('watchdog.yml', 'utf8').split('\n');
    const from = lines.findIndex((l) => l.startsWith('  windows: []'));
    const example = lines
      .slice(from + 1)
      .filter((_line, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('  #  ')))
      .map((l) => l.replace('  #  ', '    '));

    const policy = parsePolicyText(`quietHours:\n  windows:\n${example.join('\n')}\n`);

    expect(example.length).toBeGreaterThan(5);
    expect(weekend(policy)).toEqual(['2026-11-27T22:00:00.000Z', '2026-11-30T07:00:00.000Z']);
  });
});
