import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import {
  isWorldOpen,
  parseCidr,
  parseEmail,
  parseInstanceType,
  parsePort,
  parseRoster,
  parseUserName,
  parseUserRequest,
  RESULT_COLUMNS,
  toCsv,
} from '../../src/core/provisioning/roster.js';

describe('user names', () => {
  it.each(['alice', 'Bob', 'j.smith', 'student_01', 'a-b', 'x', 'a'.repeat(64)])('accepts %j', (name) => {
    expect(parseUserName(name)).toBe(name);
  });

  it.each([
    ['an empty name', ''],
    ['a name over 64 characters', 'a'.repeat(65)],
    ['a leading digit', '1alice'],
    ['a comma (CSV / IAM list injection)', 'alice,bob'],
    ['a newline (log injection)', 'alice\nadmin'],
    ['a policy variable', '${aws:username}'],
    ['a path separator', 'alice/../admin'],
    ['a shell metacharacter', "alice';rm -rf ~"],
    ['a spreadsheet formula', '=HYPERLINK("x")'],
    ['IAM-only characters that break SSM and launch template names', 'alice+test@example'],
    ['a space', 'alice smith'],
    ['a non-ASCII letter', 'zoë'],
  ])('rejects %s', (_what, name) => {
    expect(() => parseUserName(name)).toThrow(InputError);
  });

  it('names the field and the rule in the error', () => {
    expect(() => parseUserName('alice,bob')).toThrow(
      /^user: "alice,bob" is not a usable user name: start with a letter/,
    );
  });
});

describe('emails', () => {
  it.each(['alice@example.edu', 'a.b+tag@sub.example.co.uk', 'X_Y@example.org'])('accepts %j', (email) => {
    expect(parseEmail(email)).toBe(email);
  });

  it.each([
    '',
    'alice',
    'alice@',
    '@example.edu',
    'alice@example',
    'a b@example.edu',
    'alice@exa mple.edu',
    'alice@example.edu\nBcc: x@y.z',
    '"a,b"@example.edu',
  ])('rejects %j', (email) => {
    expect(() => parseEmail(email)).toThrow(/^email: .* is not an email address/);
  });
});

describe('CIDRs', () => {
  it.each([
    ['203.0.113.7/32', '203.0.113.7/32'],
    ['198.51.100.0/24', '198.51.100.0/24'],
    ['203.0.113.7', '203.0.113.7/32'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:DB8::1', '2001:db8::1/128'],
  ])('accepts %j as %j', (input, canonical) => {
    expect(parseCidr(input)).toBe(canonical);
  });

  it.each([
    ['not an address', 'localhost/32', /is not a CIDR/],
    ['an octet over 255', '256.0.0.1/32', /is not a CIDR/],
    ['a prefix over 32', '10.0.0.0/33', /at most \/32/],
    ['an IPv6 prefix over 128', '2001:db8::/129', /at most \/128/],
    ['host bits set', '198.51.100.7/24', /host bits set; the network is 198\.51\.100\.0\/24/],
    ['two slashes', '10.0.0.0/8/8', /is not a CIDR/],
    ['a trailing injection', '10.0.0.0/8,0.0.0.0/0', /is not a CIDR/],
    ['the IPv4 world', '0.0.0.0/0', /opens SSH to the whole internet.*allowAnywhere: true/],
    ['the IPv6 world', '::/0', /opens SSH to the whole internet/],
    ['half the IPv4 internet', '0.0.0.0/1', /opens SSH to a large part of the internet \(wider than \/8\)/],
    ['a /4 of the IPv4 internet', '128.0.0.0/4', /wider than \/8/],
    ['most of the IPv6 internet', '2000::/3', /wider than \/16/],
  ])('rejects %s', (_what, input, message) => {
    expect(() => parseCidr(input)).toThrow(message);
  });

  it.each(['0.0.0.0/0', '::/0'])('accepts %j only when allowAnywhere is given explicitly', (cidr) => {
    expect(parseCidr(cidr, true)).toBe(cidr);
    expect(isWorldOpen(cidr)).toBe(true);
  });
});

describe('instance types and ports', () => {
  it.each(['t3.micro', 'c7i-flex.large', 'g4dn.xlarge'])('accepts the type %j', (t) => {
    expect(parseInstanceType(t)).toBe(t);
  });

  it.each(['', 't3', 'T3.MICRO', 't3.micro;ls', 't3 .micro'])('rejects the type %j', (t) => {
    expect(() => parseInstanceType(t)).toThrow(/^type: .* is not an EC2 instance type/);
  });

  it.each([
    [8888, 8888],
    ['8888', 8888],
    [65535, 65535],
  ])('accepts the port %j', (input, port) => {
    expect(parsePort(input)).toBe(port);
  });

  it.each([22, 80, 1023, 65536, 'http', '88.8', -1])('rejects the port %j', (input) => {
    expect(() => parsePort(input)).toThrow(/^notebookPort: .* is not a port from 1024 to 65535/);
  });
});

describe('a user request', () => {
  it('validates every field and keeps only what was given', () => {
    expect(
      parseUserRequest({
        user: 'alice',
        email: 'alice@example.edu',
        cidr: '203.0.113.7',
        type: 't3.small',
        notebookPort: 8888,
        region: 'eu-west-1',
      }),
    ).toEqual({
      user: 'alice',
      email: 'alice@example.edu',
      cidr: '203.0.113.7/32',
      instanceType: 't3.small',
      notebookPort: 8888,
      region: 'eu-west-1',
    });
  });

  it.each([
    [
      'an unknown field',
      { user: 'a', email: 'a@b.cd', cidr: '10.0.0.0/8', admin: true },
      /^admin: unknown field/,
    ],
    [
      'an unknown region',
      { user: 'a', email: 'a@b.cd', cidr: '10.0.0.0/8', region: 'mars-1' },
      /^region: "mars-1" is not an AWS region/,
    ],
    [
      'a non-boolean allowAnywhere',
      { user: 'a', email: 'a@b.cd', cidr: '0.0.0.0/0', allowAnywhere: 'yes' },
      /^allowAnywhere: must be true or false/,
    ],
    ['not an object', 'alice', /^user: each user must be an object/],
  ])('rejects %s', (_what, input, message) => {
    expect(() => parseUserRequest(input)).toThrow(message);
  });

  it('accepts a world-open CIDR with allowAnywhere: true', () => {
    expect(
      parseUserRequest({ user: 'a', email: 'a@b.cd', cidr: '0.0.0.0/0', allowAnywhere: true }),
    ).toMatchObject({
      cidr: '0.0.0.0/0',
      allowAnywhere: true,
    });
  });
});

describe('the roster CSV', () => {
  it('reads rows with or without a header, quotes, CRLF and comments', () => {
    // Prepare
    const withHeader =
      'user,email,cidr,type\r\nalice,alice@example.edu,203.0.113.7/32,\r\n# a comment\r\n"bob","bob@example.edu","198.51.100.0/24",t3.small\r\n\r\n';
    const without = 'alice,alice@example.edu,203.0.113.7/32\n';

    // Act
    const a = parseRoster(withHeader);
    const b = parseRoster(without);

    // Assess
    expect(a.map((r) => (r.ok ? [r.line, r.request] : r.error))).toEqual([
      [2, { user: 'alice', email: 'alice@example.edu', cidr: '203.0.113.7/32' }],
      [4, { user: 'bob', email: 'bob@example.edu', cidr: '198.51.100.0/24', instanceType: 't3.small' }],
    ]);
    expect(b).toHaveLength(1);
  });

  it('turns each bad row into an error row naming the line and the field, and keeps the rest', () => {
    // Prepare
    const csv = [
      'user,email,cidr,type',
      'alice,alice@example.edu,203.0.113.7/32',
      'bad name,b@example.edu,203.0.113.8/32',
      'carol,carol@example.edu,0.0.0.0/0',
      'dave,dave@example.edu,203.0.113.9/32,t3.micro,extra',
      'ALICE,alice2@example.edu,203.0.113.10/32',
      'erin,erin@example.edu,"203.0.113.11/32\nx"',
    ].join('\n');

    // Act
    const rows = parseRoster(csv);

    // Assess
    expect(rows.map((r) => (r.ok ? `ok ${r.user}` : r.error))).toEqual([
      'ok alice',
      expect.stringMatching(/^line 3: user: "bad name" is not a usable user name/),
      expect.stringMatching(/^line 4: cidr: 0\.0\.0\.0\/0 opens SSH to the whole internet/),
      expect.stringMatching(/^line 5: row: has 5 columns, expected at most 4/),
      expect.stringMatching(/^line 6: user: "ALICE" appears more than once/),
      expect.stringMatching(/^line 7: cidr: .* is not a CIDR/),
    ]);
  });

  it('reads the optional notebook_port and region columns when a header names them', () => {
    const rows = parseRoster(
      'user,email,cidr,notebook_port,region\nalice,alice@example.edu,203.0.113.7/32,8888,eu-west-1\n',
    );
    expect(rows[0]).toMatchObject({ ok: true, request: { notebookPort: 8888, region: 'eu-west-1' } });
  });

  it('rejects a header with an unknown column', () => {
    expect(() => parseRoster('user,email,cidr,password\n')).toThrow(
      /^roster header: unknown column\(s\) password/,
    );
  });
});

describe('the results CSV', () => {
  it('quotes cells with commas and quotes and defuses spreadsheet formulas', () => {
    const csv = toCsv(RESULT_COLUMNS, [
      ['alice', 'failed', '', '', 'type: "x,y" is not allowed'],
      ['=cmd', 'failed', '', '', '@SUM(1)'],
    ]);
    expect(csv).toBe(
      'user,status,key_parameter,launch_template_id,error\nalice,failed,,,"type: ""x,y"" is not allowed"\n\'=cmd,failed,,,\'@SUM(1)\n',
    );
  });
});
