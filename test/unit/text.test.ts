import { DescribeInstancesCommand, EC2Client, type Tag } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { addSweep, emptyLedger, ledgerOwner } from '../../src/core/usage-ledger.js';
import { printable } from '../../src/core/errors.js';
import { evaluate, findProtection } from '../../src/core/evaluate.js';
import { instanceRef } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import { cleanLine, cleanTags, TEXT_CAPS } from '../../src/core/text.js';
import { NO_OWNER } from '../../src/core/usage.js';
import { hoursAgo, NOW, policyWith } from '../support/fleet.js';

/** What may never reach a person or a terminal: controls, format/bidi, separators, lone surrogates. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

const ec2 = mockClient(EC2Client);

beforeEach(() => {
  ec2.reset();
});

/** The instance as the sweep, the launch guard and the actions function read it: through the EC2 adapter. */
async function read(tags: Tag[]) {
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0123456789abcdef0',
            InstanceType: 't3.micro',
            LaunchTime: new Date(hoursAgo(30)),
            State: { Name: 'running' },
            RootDeviceType: 'ebs',
            Tags: tags,
          },
        ],
      },
    ],
  });
  const instance = await new Ec2Adapter(new EC2Client({ region: 'us-east-1' }), 'us-east-1').getRunning(
    'i-0123456789abcdef0',
  );
  if (!instance) throw new Error('the adapter dropped the instance');
  return instance;
}

describe('cleanLine: one line of safe text', () => {
  it.each([
    [
      'line breaks become spaces',
      'a\n\nStop it now: https://evil.example/x',
      'a  Stop it now: https://evil.example/x',
    ],
    ['CR LF, CR, VT, FF and tab become spaces', 'a\r\nb\rc\vd\fe\tf', 'a  b c d e f'],
    ['U+2028 / U+2029 become spaces', 'a\u2028b\u2029c', 'a b c'],
    ['the byte-order mark becomes a space', '\uFEFFa', ' a'],
    ['ESC of a clear-screen sequence becomes ?', 'a\x1b[2J', 'a?[2J'],
    [
      'an OSC-8 hyperlink loses ESC and BEL',
      '\x1b]8;;https://evil.example\x07click\x1b]8;;\x07',
      '?]8;;https://evil.example?click?]8;;?',
    ],
    ['NEL and DEL become ?', 'a\u0085b\u007fc', 'a?b?c'],
    ['bidi override and pop become ?', 'a\u202Etxt.exe\u202C', 'a?txt.exe?'],
    ['bidi isolates become ?', '\u2066a\u2067b\u2068c\u2069', '?a?b?c?'],
    ['zero-width characters and soft hyphen become ?', 'a\u200Bb\u200Cc\u200Dd\u00ADe\u2060f', 'a?b?c?d?e?f'],
    ['lone surrogates become ?', 'a\uD800b\uDC00c', 'a?b?c'],
    ['Unicode tag characters become ?', 'a\u{E0041}b', 'a?b'],
    ['plain text, accents and emoji stay', 'José 💻 Zoë (cs-101) — ok', 'José 💻 Zoë (cs-101) — ok'],
  ])('%s', (_case, raw, clean) => {
    // Act
    const out = cleanLine(raw);

    // Assess
    expect(out).toBe(clean);
    expect(out).not.toMatch(UNSAFE);
  });

  it('cuts at the cap in characters, never inside a surrogate pair, and marks the cut', () => {
    expect(cleanLine('x'.repeat(5000), TEXT_CAPS.tagValue)).toBe(`${'x'.repeat(253)}...`);
    expect(cleanLine('x'.repeat(256), TEXT_CAPS.tagValue)).toBe('x'.repeat(256));

    const emoji = cleanLine('💻'.repeat(300), TEXT_CAPS.tagValue);
    expect(Array.from(emoji)).toHaveLength(256);
    expect(emoji).toBe(`${'💻'.repeat(253)}...`);
    expect(emoji).not.toMatch(UNSAFE);
  });

  it('quotes bad values in error messages the same way, at most 80 characters', () => {
    expect(printable('us-east-1\u202E\n\x1b[2J')).toBe('us-east-1? ?[2J');
    expect(printable('y'.repeat(200))).toBe(`${'y'.repeat(77)}...`);
  });
});

describe('tags are cleaned as the EC2 adapter reads them, keeping what they decide', () => {
  const policy = policyWith();

  it('cleans every tag value and key and caps values at 256, keys at 128 characters', async () => {
    const instance = await read([
      { Key: 'Name', Value: 'lab\n\nStop it now: https://evil.example/x' },
      { Key: 'Project\u202E', Value: 'x'.repeat(5000) },
      { Key: 'k'.repeat(300), Value: 'v' },
    ]);

    expect(instance.tags).toEqual({
      Name: 'lab  Stop it now: https://evil.example/x',
      'Project?': `${'x'.repeat(253)}...`,
      [`${'k'.repeat(125)}...`]: 'v',
    });
  });

  it.each([
    ['true', 'exempt'],
    ['TRUE \n', 'exempt'],
    ['false', null],
    ['false\uFEFF', null],
    ['false\n', null],
    ['false\u200B', 'exempt'],
    ['tr\u200Bue', 'exempt'],
    ['2099-01-01', 'snoozed'],
    ['2099-01-01\n', 'snoozed'],
  ])('reads the exempt value %j as the raw value meant it: %s', async (value, kind) => {
    // Prepare: what the raw value decided, by the same rule, before any cleaning
    const raw = findProtection(
      {
        instanceId: 'i-raw',
        region: 'us-east-1',
        instanceType: 't3.micro',
        launchTime: hoursAgo(1),
        rootDeviceType: 'ebs',
        tags: { [TAGS.exempt]: value },
      },
      policy,
      NOW.getTime(),
    );

    // Act
    const instance = await read([{ Key: TAGS.exempt, Value: value }]);
    const cleaned = findProtection(instance, policy, NOW.getTime());

    // Assess
    expect(raw?.kind ?? null).toBe(kind);
    expect(cleaned?.kind ?? null).toBe(kind);
    expect(cleaned?.reason ?? '').not.toMatch(UNSAFE);
  });

  it('keeps the warning time and rule the watchdog wrote, so grace counts on', async () => {
    const instance = await read([
      { Key: TAGS.warnedAt, Value: hoursAgo(2) },
      { Key: TAGS.warnRule, Value: 'over-uptime' },
    ]);

    const d = evaluate(instance, undefined, policy, NOW);

    expect(instance.tags[TAGS.warnedAt]).toBe(hoursAgo(2));
    expect(d).toMatchObject({ action: 'stop', rule: 'over-uptime', warnedAt: hoursAgo(2) });
  });

  it('never lets a look-alike key become or replace a key the watchdog decides on', async () => {
    // Prepare: look-alikes of the exempt and owner keys, before and after the real ones
    const instance = await read([
      { Key: `${TAGS.exempt}\u200B`, Value: 'true' },
      { Key: 'Owner\n', Value: 'mallory' },
      { Key: 'Owner', Value: 'alice' },
      { Key: 'Owner\u200B', Value: 'bob' },
      { Key: 'Owner?', Value: 'carol' },
    ]);

    // Act
    const protection = findProtection(instance, policy, NOW.getTime());

    // Assess
    expect(protection).toBeNull();
    expect(instance.tags.Owner).toBe('alice');
    expect(instance.tags[TAGS.exempt]).toBeUndefined();
    expect(instance.tags['Owner?']).toBe('carol');
    expect(instance.tags['Owner ']).toBe('mallory');
  });

  it('keeps the first of two look-alikes that clean to the same key', () => {
    expect(
      cleanTags([
        { Key: 'Name\u200B', Value: 'first' },
        { Key: 'Name\u200C', Value: 'second' },
      ]),
    ).toEqual({ 'Name?': 'first' });
  });

  it.each([
    ['alice', 'alice'],
    ['\n', undefined],
    ['  \t', undefined],
    ['\u200B', '?'],
    ['alice\u200B', 'alice?'],
    ['alice\n', 'alice '],
  ])(
    'routes owner %j as %j: blank stays no owner, anything else stays an owner and never becomes another',
    async (value, owner) => {
      const instance = await read([{ Key: 'Owner', Value: value }]);

      expect(instanceRef(instance, policy.tags.owner).owner).toBe(owner);
    },
  );
});

describe('the per-owner month counters', () => {
  it.each([
    ['alice', 'alice'],
    ['José', 'José'],
    ['alice\u202E', 'alice?'],
    [' ', NO_OWNER],
    ['', NO_OWNER],
  ])('keep owner %j as %j (cleaned text; blank is no owner)', (owner, value) => {
    expect(ledgerOwner(owner)).toBe(value);
  });

  it('adds owners that meet in one cleaned name together, and never lets a name become another line', () => {
    const month = {
      month: '2026-11-01T00:00:00.000Z',
      at: NOW,
      instanceHours: 4,
      freeTierHours: 0,
      estimatedUsd: 0.4,
      byOwner: {
        alice: { hours: 1, usd: 0.1 },
        'alice\u200B': { hours: 1, usd: 0.1 },
        'bob\n\nStop it now: https://evil.example': { hours: 1, usd: 0.1 },
        ' ': { hours: 1, usd: 0.1 },
      },
    };

    const ledger = addSweep(emptyLedger('2026-11'), month, 0, NOW);

    expect(ledger.byOwner).toEqual({
      alice: { hours: 1, usd: 0.1 },
      'alice?': { hours: 1, usd: 0.1 },
      'bob  Stop it now: https://evil.example': { hours: 1, usd: 0.1 },
      [NO_OWNER]: { hours: 1, usd: 0.1 },
    });
  });
});
