import { cleanLine, TEXT_CAPS } from './text.js';

/**
 * Errors a user can act on. Each names what was wrong and how to fix it, so the message alone is enough.
 */
export class WatchdogError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WatchdogError';
  }
}

/** The policy file (watchdog.yml) is missing, unreadable or invalid. Nothing runs with a bad policy. */
export class PolicyError extends WatchdogError {
  /** One line per problem: `field: what is wrong (allowed: ...)`. */
  readonly issues: string[];
  constructor(message: string, issues: string[] = [], options?: { cause?: unknown }) {
    // Issues quote keys and values of the policy file: one clean line each.
    const lines = issues.map((i) => cleanLine(i, 1000));
    super(lines.length > 0 ? `${message}\n${lines.map((i) => `  - ${i}`).join('\n')}` : message, options);
    this.name = 'PolicyError';
    this.issues = lines;
  }
}

/** A required setting (environment variable, CLI flag, handler input) is missing or malformed. */
export class ConfigError extends WatchdogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** Input to a handler or command (an event, a roster row, a snapshot file) is malformed. */
export class InputError extends WatchdogError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.name = 'InputError';
    this.field = field;
  }
}

/** A notebook or database the watchdog was asked to tag or stop does not exist (any more) in its region. */
export class ResourceNotFoundError extends WatchdogError {
  constructor(kind: string, id: string, region: string, options?: { cause?: unknown }) {
    super(
      `${kind} "${printable(id)}" not found in ${region}: it was deleted, or the id is wrong; nothing was done to it`,
      options,
    );
    this.name = 'ResourceNotFoundError';
  }
}

/** Why AWS cannot be used at all from here: the whole run stops, with one line that says the fix. */
export type AwsAccessProblem =
  | 'no-credentials'
  | 'expired'
  | 'rejected'
  | 'clock'
  | 'region'
  | 'unreachable'
  | 'failed';

/**
 * AWS cannot be reached, or does not accept the credentials (none found, session expired, region not enabled,
 * endpoint unreachable). Nothing was done; the message says what to fix.
 */
export class AwsAccessError extends WatchdogError {
  constructor(
    readonly problem: AwsAccessProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AwsAccessError';
  }
}

/** Short, safe description of any thrown value, for reports and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { Code?: string; code?: string }).Code ?? (err as { code?: string }).code;
    const name = err.name && err.name !== 'Error' ? err.name : code;
    return name && !err.message.startsWith(name) ? `${name}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * A user-supplied value made safe to quote in a message: one line without control, format or bidi characters
 * (cleanLine), at most 80 characters.
 */
export function printable(value: unknown): string {
  return cleanLine(String(value), TEXT_CAPS.quoted);
}

/** An AWS error code or error class at the start of a described error: "ThrottlingException: Rate exceeded". */
const ERROR_CODE = /^([A-Z][A-Za-z0-9]*(?:\.[A-Z][A-Za-z0-9]*)*)(?::\s|$)/;

/**
 * A failure as an alert or a page shows it: the AWS error code when the message starts with one
 * ("UnauthorizedOperation", "ThrottlingException"), else the first line cut to 100 characters. Never a stack,
 * an encoded authorization message or a parser's quote of what it choked on; the JSON and the log keep it whole.
 */
export function shortError(message: string): string {
  const first = cleanLine(message.split('\n')[0] ?? '', 1000).trim();
  const code = ERROR_CODE.exec(first)?.[1];
  if (code !== undefined && code !== 'Error') return code;
  const text = first.replace(/^Error:\s*/, '');
  return text === '' ? 'unknown error' : cleanLine(text, 100);
}
