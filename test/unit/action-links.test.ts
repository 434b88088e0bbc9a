import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildActionLinks,
  formatLocalTime,
  keepUntil,
  keyId,
  type LinkClaims,
  signLink,
  staleLink,
  tomorrowAt,
  verifyLink,
} from '../../src/core/action-links.js';
import { TAGS } from '../../src/core/policy.js';
import { escapeHtml, renderActionPage } from '../../src/core/action-page.js';

const KEY = 'k'.repeat(43);
const OTHER_KEY = 'o'.repeat(43);
const NOW = new Date('2026-03-03T09:40:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 24 * 3600;
const WARNED_AT = '2026-03-03T09:00:00.123Z';
const CLAIMS = {
  instanceId: 'i-0abc1234def567890',
  region: 'us-east-1',
  account: '123456789012',
  action: 'stop',
  warnedAt: Math.floor(Date.parse(WARNED_AT) / 1000),
  exp: EXP,
} as const;

function parts(token: string): [string, string, string] {
  const [v, p, s] = token.split('.');
  return [v ?? '', p ?? '', s ?? ''];
}

function withPayload(token: string, edit: (wire: Record<string, unknown>) => void): string {
  const [v, p, s] = parts(token);
  const wire = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(wire);
  return `${v}.${Buffer.from(JSON.stringify(wire)).toString('base64url')}.${s}`;
}

describe('signing and verifying action links', () => {
  it('accepts a link it signed and returns exactly the signed claims', () => {
    // Prepare
    const token = signLink(CLAIMS, KEY);

    // Act
    const verdict = verifyLink(token, KEY, NOW);

    // Assess
    expect(verdict).toEqual({ ok: true, claims: { ...CLAIMS, kid: keyId(KEY) } });
  });

  it('signs the same claims to the same URL-safe token', () => {
    expect(signLink(CLAIMS, KEY)).toBe(signLink(CLAIMS, KEY));
    expect(signLink(CLAIMS, KEY)).toMatch(/^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  it.each([
    ['the instance id', (w: Record<string, unknown>) => (w.i = 'i-0fff1234def567890')],
    ['the region', (w: Record<string, unknown>) => (w.r = 'eu-west-1')],
    ['the account', (w: Record<string, unknown>) => (w.a = '210987654321')],
    ['the action', (w: Record<string, unknown>) => (w.x = 'keep4h')],
    ['the warning it answers', (w: Record<string, unknown>) => (w.w = CLAIMS.warnedAt + 3600)],
    ['the expiry', (w: Record<string, unknown>) => (w.e = EXP + 3600)],
    ['an added snooze end', (w: Record<string, unknown>) => (w.u = EXP + 99_999)],
  ])('rejects a link whose %s was changed as tampered', (_field, edit) => {
    // Prepare
    const token = withPayload(signLink(CLAIMS, KEY), edit);

    // Act
    const verdict = verifyLink(token, KEY, NOW);

    // Assess
    expect(verdict).toMatchObject({ ok: false, reason: 'tampered' });
    expect(verdict).not.toHaveProperty('claims');
  });

  it('rejects a link whose signature was changed as tampered', () => {
    // Prepare
    const [v, p, s] = parts(signLink(CLAIMS, KEY));
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;

    // Act
    const verdict = verifyLink(`${v}.${p}.${flipped}`, KEY, NOW);

    // Assess
    expect(verdict).toMatchObject({ ok: false, reason: 'tampered' });
  });

  it('rejects a signature that decodes to the same bytes but is spelled differently (one token per link)', () => {
    // Prepare: the 43rd character carries 2 unused bits; flip them
    const [v, p, s] = parts(signLink(CLAIMS, KEY));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s.slice(-1));
    const twin = `${s.slice(0, -1)}${alphabet[last ^ 1]}`;

    // Act
    const verdict = verifyLink(`${v}.${p}.${twin}`, KEY, NOW);

    // Assess
    expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    expect(verdict).toMatchObject({ ok: false, reason: 'tampered' });
  });

  it('rejects a link signed with another key as wrong-key', () => {
    expect(verifyLink(signLink(CLAIMS, OTHER_KEY), KEY, NOW)).toMatchObject({
      ok: false,
      reason: 'wrong-key',
    });
  });

  it('rejects a link whose key id was swapped for the right one as tampered', () => {
    // Prepare: signed with another key, key id rewritten to look like ours
    const token = withPayload(signLink(CLAIMS, OTHER_KEY), (w) => (w.k = keyId(KEY)));

    // Act / Assess
    expect(verifyLink(token, KEY, NOW)).toMatchObject({ ok: false, reason: 'tampered' });
  });

  it.each([
    ['one second before the expiry', -1, true],
    ['at the expiry second', 0, true],
    ['one second after the expiry', 1, false],
    ['a day after the expiry (a replay)', 86_400, false],
  ])('at %s the link is accepted: %s', (_when, offsetSeconds, accepted) => {
    // Prepare
    const token = signLink(CLAIMS, KEY);
    const at = new Date((EXP + offsetSeconds) * 1000);

    // Act
    const verdict = verifyLink(token, KEY, at);

    // Assess
    expect(verdict.ok).toBe(accepted);
    if (!verdict.ok) expect(verdict).toMatchObject({ reason: 'expired', expiredAt: new Date(EXP * 1000) });
  });

  it('reports a tampered expired link as tampered, not expired (the signature is checked first)', () => {
    const token = withPayload(signLink(CLAIMS, KEY), (w) => (w.i = 'i-0fff1234def567890'));
    expect(verifyLink(token, KEY, new Date((EXP + 10) * 1000))).toMatchObject({ reason: 'tampered' });
  });

  it.each([
    ['an empty string', ''],
    ['a word', 'hello'],
    ['two parts', 'v2.abc'],
    ['an unknown version', signLink(CLAIMS, KEY).replace(/^v2/, 'v3')],
    ['a payload that is not JSON', `v2.${Buffer.from('{nope').toString('base64url')}.${'A'.repeat(43)}`],
    ['a JSON array', `v2.${Buffer.from('[1,2]').toString('base64url')}.${'A'.repeat(43)}`],
    ['characters outside base64url', `v2.a+b/c.${'A'.repeat(43)}`],
    ['a short signature', `${signLink(CLAIMS, KEY).slice(0, -5)}`],
    ['an overlong token', `v2.${'A'.repeat(3000)}.${'A'.repeat(43)}`],
  ])('rejects %s as malformed', (_what, token) => {
    expect(verifyLink(token, KEY, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it.each([
    ['an instance id that is not one', { i: 'i-0abc;rm -rf' }],
    ['an unknown region', { r: 'moon-1' }],
    ['an unknown action', { x: 'terminate' }],
    ['an extra field', { z: 1 }],
    ['no warning time', { w: undefined }],
  ])('rejects a payload with %s as malformed', (_what, extra) => {
    const token = withPayload(signLink(CLAIMS, KEY), (w) => Object.assign(w, extra));
    expect(verifyLink(token, KEY, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses a v1 link (from before links named their warning) as outdated, whatever it says', () => {
    // Prepare: a v1 link as warnings sent before links named their warning carried it, validly signed the v1 way
    const payload = Buffer.from(
      JSON.stringify({
        k: keyId(KEY),
        i: CLAIMS.instanceId,
        r: 'us-east-1',
        a: CLAIMS.account,
        x: 'stop',
        e: EXP,
      }),
    ).toString('base64url');
    const sig = createHmac('sha256', KEY).update(`v1.${payload}`).digest('base64url');

    // Act
    const verdict = verifyLink(`v1.${payload}.${sig}`, KEY, NOW);

    // Assess
    expect(verdict).toMatchObject({ ok: false, reason: 'outdated' });
    expect(verdict).not.toHaveProperty('claims');
  });

  it('refuses to sign or verify with a key shorter than 32 bytes', () => {
    expect(() => signLink(CLAIMS, 'short')).toThrow(/32 bytes/);
    expect(() => verifyLink('v2.a.b', 'short', NOW)).toThrow(/32 bytes/);
  });

  it('refuses to sign claims that could not be verified later', () => {
    expect(() => signLink({ ...CLAIMS, instanceId: 'not-an-instance' }, KEY)).toThrow(/instanceId/);
  });
});

describe('the links of a warning', () => {
  it('builds three links to the actions URL, valid for 24 hours, one per action', () => {
    // Act
    const links = buildActionLinks({
      baseUrl: 'https://abc.lambda-url.us-east-1.on.aws/',
      key: KEY,
      instanceId: CLAIMS.instanceId,
      region: 'us-east-1',
      account: '123456789012',
      warnedAt: WARNED_AT,
      now: NOW,
      timeZone: 'Europe/Berlin',
    });

    // Assess
    const verdicts = [links.keep4h, links.keepTomorrow, links.stop].map((url) => {
      expect(url.startsWith('https://abc.lambda-url.us-east-1.on.aws/?t=v2.')).toBe(true);
      return verifyLink(new URL(url).searchParams.get('t') ?? '', KEY, NOW);
    });
    expect(verdicts.map((v) => (v.ok ? v.claims.action : v.reason))).toEqual([
      'keep4h',
      'keepTomorrow',
      'stop',
    ]);
    for (const v of verdicts)
      expect(v.ok && v.claims.warnedAt).toBe(Date.parse('2026-03-03T09:00:00Z') / 1000);
    expect(links.expiresAt).toBe('2026-03-04T09:40:00.000Z');
    // 09:00 in Berlin (UTC+1 in March before the DST change) on the next day
    expect(links.keepTomorrowUntil).toBe('2026-03-04T08:00:00.000Z');
  });

  it.each([
    ['UTC', 'in the morning', '2026-03-03T09:40:00Z', '2026-03-04T09:00:00.000Z'],
    ['UTC', 'just before midnight', '2026-03-03T23:59:59Z', '2026-03-04T09:00:00.000Z'],
    [
      'America/New_York',
      'in the evening (already the next UTC day)',
      '2026-03-04T02:00:00Z',
      '2026-03-04T14:00:00.000Z',
    ],
    ['Europe/Berlin', 'before the spring DST change', '2026-03-28T20:00:00Z', '2026-03-29T07:00:00.000Z'],
    ['Europe/Berlin', 'before the autumn DST change', '2026-10-24T20:00:00Z', '2026-10-25T08:00:00.000Z'],
    [
      'Asia/Kolkata',
      'after local midnight (half-hour offset)',
      '2026-03-03T20:00:00Z',
      '2026-03-05T03:30:00.000Z',
    ],
  ])('"until tomorrow 09:00" in %s %s is the next local day at 09:00', (tz, _when, now, expected) => {
    expect(tomorrowAt(new Date(now), tz).toISOString()).toBe(expected);
  });

  it('keeps 4 hours from the click, and "tomorrow" until the time fixed in the warning', () => {
    const base: LinkClaims = { ...CLAIMS, kid: keyId(KEY), action: 'keep4h' };
    expect(keepUntil(base, NOW).toISOString()).toBe('2026-03-03T13:40:00.000Z');
    expect(keepUntil({ ...base, action: 'keepTomorrow', until: EXP }, NOW).getTime()).toBe(EXP * 1000);
  });

  it('formats times in the policy time zone', () => {
    expect(formatLocalTime(new Date('2026-03-03T13:40:00Z'), 'UTC')).toBe('Tue 3 Mar 13:40 (UTC)');
    expect(formatLocalTime(new Date('2026-03-04T08:00:00Z'), 'Europe/Berlin')).toBe(
      'Wed 4 Mar 09:00 (Europe/Berlin)',
    );
  });
});

describe('a link and the warning it answers', () => {
  const LAUNCH = '2026-03-03T06:00:00.000Z';
  const claims = (extra: Partial<LinkClaims> = {}): LinkClaims => ({
    ...CLAIMS,
    kid: keyId(KEY),
    action: 'keep4h',
    ...extra,
  });
  const on = (warnedAt: string | undefined, launchTime = LAUNCH) => ({
    launchTime,
    tags: warnedAt === undefined ? {} : { [TAGS.warnedAt]: warnedAt },
  });

  it.each([
    ['carries exactly that warning', on(WARNED_AT), null],
    ['carries it spelled without milliseconds (same second)', on('2026-03-03T09:00:00Z'), null],
    ['carries no warning (answered, cleared, or stopped)', on(undefined), 'no-warning'],
    ['carries a warning tag that is no time', on('yesterday'), 'no-warning'],
    ['carries a newer warning', on('2026-03-03T10:00:00.000Z'), 'other-warning'],
    ['carries an older warning', on('2026-03-03T08:00:00.000Z'), 'other-warning'],
    ['was started again after the warning', on(WARNED_AT, '2026-03-03T09:20:00.000Z'), 'restarted'],
  ])('applies to an instance that %s: %s', (_what, target, expected) => {
    expect(staleLink(claims(), target, NOW)).toBe(expected);
  });

  it.each([
    ['a minute ahead', 60, null],
    ['now', 0, 'keep-time-passed'],
    ['a minute ago', -60, 'keep-time-passed'],
  ])('"keep until tomorrow" whose time is %s: %s', (_when, offsetSeconds, expected) => {
    const until = Math.floor(NOW.getTime() / 1000) + offsetSeconds;
    expect(staleLink(claims({ action: 'keepTomorrow', until }), on(WARNED_AT), NOW)).toBe(expected);
  });

  it('refuses to sign links for a warning time that is no time', () => {
    expect(() =>
      buildActionLinks({
        baseUrl: 'https://abc.lambda-url.us-east-1.on.aws/',
        key: KEY,
        instanceId: CLAIMS.instanceId,
        region: 'us-east-1',
        account: '123456789012',
        warnedAt: 'soon',
        now: NOW,
        timeZone: 'UTC',
      }),
    ).toThrow(/warnedAt "soon"/);
  });
});

describe('the action page', () => {
  it('escapes every value it shows', () => {
    // Act
    const html = renderActionPage({
      status: 200,
      tone: 'confirm',
      title: '<script>x</script>',
      message: 'a & b "c"',
      details: ["it's <b>"],
      confirm: { label: 'Go', token: '"><img src=x>' },
    });

    // Assess
    expect(html).not.toMatch(/<script>|<img|<b>/);
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(html).toContain('value="&quot;&gt;&lt;img src=x&gt;"');
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
  });

  it('is readable on a phone and loads nothing from elsewhere', () => {
    const html = renderActionPage({ status: 200, tone: 'done', title: 'Kept', message: 'ok' });
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).not.toMatch(/<script|src=|href=/);
  });
});
