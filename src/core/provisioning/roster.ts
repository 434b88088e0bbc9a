import { isIPv4, isIPv6 } from 'node:net';
import { InputError, printable } from '../errors.js';
import { type MachineSetup, parseSetup } from './machine-setup.js';
import { isKnownRegion, NAMES } from '../policy.js';

/**
 * One user to provision, validated. Every field is safe to use in IAM, EC2, SSM and SNS names and filters
 * as it is: nothing here can carry a comma, quote, newline, slash or policy variable.
 */
export interface UserRequest {
  /** IAM user name, also the `Owner` tag value and the suffix of every resource name. */
  user: string;
  email: string;
  /** Canonical CIDR allowed to reach SSH (and the notebook port), e.g. 203.0.113.7/32. */
  cidr: string;
  /** Instance type for the launch template; absent = the account's first free-tier type. */
  instanceType?: string;
  /** Extra TCP port opened to the same CIDR (Jupyter: 8888). */
  notebookPort?: number;
  /** Region for the user's EC2 resources; absent = the run's home region. */
  region?: string;
  /** The CIDR may be 0.0.0.0/0 or ::/0 (the caller said so explicitly). */
  allowAnywhere?: boolean;
  /** What the instance is ready for on first boot (datascience, gpu); absent = plain Amazon Linux. */
  setup?: Exclude<MachineSetup, 'none'>;
}

/**
 * User names: IAM allows `[\w+=,.@-]{1,64}`, but the name also ends up in a launch template name (no `+=,@`),
 * an SSM parameter path (no `+=,@`), a CSV file and a shell command line. So the accepted set is the
 * intersection: a letter first, then letters, digits, `.`, `_` or `-`, at most 64 characters in all.
 */
export const USER_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
const EMAIL =
  /^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

/** The resource name for a user's key pair, security group and launch template: `cost-watchdog-<user>`. */
export function resourceName(user: string): string {
  return `${NAMES.resourcePrefix}${user}`;
}

/** The SSM parameter that holds a user's private key: `/cost-watchdog/keys/<user>`. */
export function keyParameterName(user: string): string {
  return `${NAMES.keyParameterPrefix}${user}`;
}

/** The SSM parameter that holds a user's first console password: `/cost-watchdog/passwords/<user>`. */
export function passwordParameterName(user: string): string {
  return `${NAMES.passwordParameterPrefix}${user}`;
}

/** The SSM parameter that holds a user's access key (JSON with id and secret): `/cost-watchdog/access-keys/<user>`. */
export function accessKeyParameterName(user: string): string {
  return `${NAMES.accessKeyParameterPrefix}${user}`;
}

/** Checks an IAM user name against the rules above; throws an InputError naming the rule. */
export function parseUserName(value: unknown, field = 'user'): string {
  const name = typeof value === 'string' ? value.trim() : '';
  if (name === '') throw new InputError(field, 'is empty; give an IAM user name such as alice or j.smith');
  if (!USER_NAME.test(name)) {
    throw new InputError(
      field,
      `"${printable(name)}" is not a usable user name: start with a letter, then letters, digits, ".", "_" or "-", at most 64 characters`,
    );
  }
  return name;
}

/** Checks an email address; throws an InputError. */
export function parseEmail(value: unknown, field = 'email'): string {
  const email = typeof value === 'string' ? value.trim() : '';
  if (email.length > 254 || !EMAIL.test(email)) {
    throw new InputError(field, `"${printable(email)}" is not an email address; use e.g. alice@example.edu`);
  }
  return email;
}

/** True for a CIDR that opens a port to the whole internet (prefix length 0, IPv4 or IPv6). */
export function isWorldOpen(cidr: string): boolean {
  return /\/0$/.test(cidr);
}

/**
 * Checks a CIDR and returns it in canonical form. A bare address means that one host (/32 or /128). Host bits
 * set below the prefix are an error that names the network meant. 0.0.0.0/0 and ::/0 are refused unless
 * `allowAnywhere` is true.
 */
export function parseCidr(value: unknown, allowAnywhere = false, field = 'cidr'): string {
  const text = typeof value === 'string' ? value.trim() : '';
  const [address = '', prefixText, extra] = text.split('/');
  const hint = 'use the network SSH comes from, e.g. 203.0.113.7/32 (one address) or 198.51.100.0/24';
  if (extra !== undefined || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new InputError(field, `"${printable(text)}" is not a CIDR; ${hint}`);
  }
  let cidr: string;
  if (isIPv4(address)) {
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    if (prefix > 32)
      throw new InputError(field, `"${printable(text)}": an IPv4 prefix is at most /32; ${hint}`);
    const bits = address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const network = bits - (bits % 2 ** (32 - prefix));
    if (network !== bits) {
      throw new InputError(field, `"${text}" has host bits set; the network is ${ipv4(network)}/${prefix}`);
    }
    cidr = `${address}/${prefix}`;
  } else if (isIPv6(address) && !address.includes('%')) {
    const prefix = prefixText === undefined ? 128 : Number(prefixText);
    if (prefix > 128)
      throw new InputError(field, `"${printable(text)}": an IPv6 prefix is at most /128; ${hint}`);
    cidr = `${address.toLowerCase()}/${prefix}`;
  } else {
    throw new InputError(field, `"${printable(text)}" is not a CIDR; ${hint}`);
  }
  if (isWorldOpen(cidr) && !allowAnywhere) {
    throw new InputError(
      field,
      `${cidr} opens SSH to the whole internet; give the network SSH comes from (e.g. 203.0.113.7/32), or set allowAnywhere: true (CLI: --allow-anywhere) if you really mean it`,
    );
  }
  // 0.0.0.0/1 and friends are the world in two halves: anything wider than a /8 (IPv4) or /16 (IPv6) counts too.
  const prefix = Number(cidr.split('/')[1]);
  if (!allowAnywhere && prefix < (cidr.includes(':') ? 16 : 8)) {
    throw new InputError(
      field,
      `${cidr} opens SSH to a large part of the internet (wider than /${cidr.includes(':') ? 16 : 8}); give the network SSH comes from (e.g. 203.0.113.7/32), or set allowAnywhere: true (CLI: --allow-anywhere) if you really mean it`,
    );
  }
  return cidr;
}

/** Checks the form of an instance type (whether it exists and is allowed is checked against EC2). */
export function parseInstanceType(value: unknown, field = 'type'): string {
  const type = typeof value === 'string' ? value.trim() : '';
  if (!INSTANCE_TYPE.test(type) || type.length > 64) {
    throw new InputError(field, `"${printable(type)}" is not an EC2 instance type; use e.g. t3.micro`);
  }
  return type;
}

/** Checks the notebook port: an unprivileged TCP port other than 22, e.g. 8888 for Jupyter. */
export function parsePort(value: unknown, field = 'notebookPort'): number {
  const port =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value.trim())
        ? Number(value)
        : NaN;
  if (!Number.isInteger(port) || port < 1024 || port > 65535) {
    throw new InputError(
      field,
      `"${printable(String(value))}" is not a port from 1024 to 65535; Jupyter uses 8888`,
    );
  }
  return port;
}

/**
 * Validates one user's input (a handler event entry or a roster row): every field is checked before anything
 * is created, and the first problem is thrown as an InputError naming the field.
 */
export function parseUserRequest(input: unknown): UserRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError('user', 'each user must be an object with user, email and cidr');
  }
  const raw = input as Record<string, unknown>;
  const known = new Set([
    'user',
    'email',
    'cidr',
    'type',
    'instanceType',
    'notebookPort',
    'region',
    'allowAnywhere',
    'setup',
  ]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key))
      throw new InputError(printable(key), `unknown field (allowed: ${[...known].join(', ')})`);
  }
  if (raw.allowAnywhere !== undefined && typeof raw.allowAnywhere !== 'boolean') {
    throw new InputError('allowAnywhere', 'must be true or false');
  }
  const allowAnywhere = raw.allowAnywhere === true;
  const type = raw.instanceType ?? raw.type;
  const out: UserRequest = {
    user: parseUserName(raw.user),
    email: parseEmail(raw.email),
    cidr: parseCidr(raw.cidr, allowAnywhere),
  };
  if (type !== undefined && type !== '') out.instanceType = parseInstanceType(type);
  if (raw.notebookPort !== undefined && raw.notebookPort !== '')
    out.notebookPort = parsePort(raw.notebookPort);
  if (raw.region !== undefined && raw.region !== '') {
    if (typeof raw.region !== 'string' || !isKnownRegion(raw.region)) {
      throw new InputError(
        'region',
        `"${printable(String(raw.region))}" is not an AWS region; use e.g. us-east-1`,
      );
    }
    out.region = raw.region;
  }
  if (allowAnywhere) out.allowAnywhere = true;
  const setup = parseSetup(raw.setup);
  if (setup !== 'none') out.setup = setup;
  return out;
}

/** One roster line: its 1-based line number and either the validated request or the error for that row. */
export type RosterRow =
  | { line: number; user: string; ok: true; request: UserRequest }
  | { line: number; user: string; ok: false; error: string };

const ROSTER_COLUMNS = ['user', 'email', 'cidr', 'type', 'notebook_port', 'region', 'setup'] as const;

/**
 * Parses a roster CSV (`user,email,cidr[,type]`, optionally `notebook_port`, `region` and `setup`; a header
 * row is optional, quotes as in RFC 4180). Each row is validated on its own: a bad row becomes an error row, the
 * rest still go through. Duplicate users (case-insensitive, as IAM compares them) are errors.
 */
export function parseRoster(text: string): RosterRow[] {
  const records = parseCsv(text.replace(/^\uFEFF/, ''));
  let columns: string[] = ['user', 'email', 'cidr', 'type'];
  const first = records[0];
  if (first && first.cells[0]?.trim().toLowerCase() === 'user') {
    columns = first.cells.map((c) => c.trim().toLowerCase());
    const unknown = columns.filter((c) => !(ROSTER_COLUMNS as readonly string[]).includes(c));
    if (unknown.length > 0) {
      throw new InputError(
        'roster header',
        `unknown column(s) ${unknown.map(printable).join(', ')} (allowed: ${ROSTER_COLUMNS.join(', ')})`,
      );
    }
    records.shift();
  }
  const seen = new Set<string>();
  const rows: RosterRow[] = [];
  for (const { line, cells } of records) {
    if (cells.every((c) => c.trim() === '') || cells[0]?.trim().startsWith('#')) continue;
    const value = (name: string) => {
      const i = columns.indexOf(name);
      return i >= 0 ? (cells[i] ?? '').trim() : '';
    };
    const name = value('user');
    try {
      if (cells.length > columns.length) {
        throw new InputError(
          'row',
          `has ${cells.length} columns, expected at most ${columns.length} (${columns.join(',')})`,
        );
      }
      const request = parseUserRequest({
        user: name,
        email: value('email'),
        cidr: value('cidr'),
        ...(value('type') ? { type: value('type') } : {}),
        ...(value('notebook_port') ? { notebookPort: value('notebook_port') } : {}),
        ...(value('region') ? { region: value('region') } : {}),
        ...(value('setup') ? { setup: value('setup') } : {}),
      });
      const key = request.user.toLowerCase();
      if (seen.has(key))
        throw new InputError('user', `"${request.user}" appears more than once in the roster`);
      seen.add(key);
      rows.push({ line, user: request.user, ok: true, request });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      rows.push({ line, user: printable(name), ok: false, error: `line ${line}: ${message}` });
    }
  }
  return rows;
}

/** RFC 4180 records with the line each starts on. */
function parseCsv(text: string): { line: number; cells: string[] }[] {
  const out: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      cells.push(cell);
      out.push({ line: start, cells });
      cells = [];
      cell = '';
      line++;
      start = line;
    } else cell += ch;
  }
  if (cell !== '' || cells.length > 0) {
    cells.push(cell);
    out.push({ line: start, cells });
  }
  return out;
}

/** The columns of the results file the roster run writes. */
export const RESULT_COLUMNS = ['user', 'status', 'key_parameter', 'launch_template_id', 'error'] as const;

/**
 * Renders rows as CSV. Cells are quoted where needed, and a cell that a spreadsheet would run as a formula
 * (starting with = + - @, tab or CR) is prefixed with an apostrophe. Spreadsheets whose list separator is `;`
 * (or an import set to tab) split inside a cell and honour quotes only at the start of a field, so the same
 * apostrophe also goes after every `;`, tab and line break that a formula character follows.
 */
export function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (v: string) => {
    const safe = (/^"*[=+\-@\t\r]/.test(v) ? `'${v}` : v).replace(/([;\t\r\n]"*)(?=[=+\-@\t\r])/g, "$1'");
    return /[",;\t\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return `${[header, ...rows].map((r) => r.map(cell).join(',')).join('\n')}\n`;
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
