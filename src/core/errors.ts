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
    super(issues.length > 0 ? `${message}\n${issues.map((i) => `  - ${i}`).join('\n')}` : message, options);
    this.name = 'PolicyError';
    this.issues = issues;
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

/** Short, safe description of any thrown value, for reports and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { Code?: string; code?: string }).Code ?? (err as { code?: string }).code;
    const name = err.name && err.name !== 'Error' ? err.name : code;
    return name && !err.message.startsWith(name) ? `${name}: ${err.message}` : err.message;
  }
  return String(err);
}

/** A user-supplied value made safe to quote in a message: control characters replaced, at most 80 characters. */
export function printable(value: unknown): string {
  const clean = String(value).replace(/\p{Cc}/gu, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
