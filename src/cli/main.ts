import { parseArgs } from 'node:util';
import {
  AwsAccessError,
  describeError,
  InputError,
  PolicyError,
  printable,
  WatchdogError,
} from '../core/errors.js';
import { closest } from '../core/suggest.js';
import { cleanLine } from '../core/text.js';
import { checkAccess } from './aws-access.js';
import type { Command, CommandEntry, CommonFlag } from './command.js';
import {
  digestCommand,
  planCommand,
  snapshotCommand,
  statusCommand,
  sweepCommand,
  validateCommand,
} from './commands.js';
import { ALL_COMMON_FLAGS, commonHelp, commonOptions, type Io, readCommon } from './context.js';

/** The common flags of provision and deprovision (their modules do not name them). */
const PROVISIONING_FLAGS: readonly CommonFlag[] = [
  'region',
  'endpoint-url',
  'profile',
  'policy',
  'json',
  'dry-run',
];

const entry = (command: Command): CommandEntry => ({
  name: command.name,
  summary: command.summary,
  load: async () => command,
});

/** Every command, in the order `--help` lists them. Provisioning (and its SDK clients) loads only when used. */
export const COMMANDS: CommandEntry[] = [
  entry(planCommand),
  entry(sweepCommand),
  entry(validateCommand),
  entry(snapshotCommand),
  entry(digestCommand),
  entry(statusCommand),
  {
    name: 'provision',
    summary:
      'set up a user (or a class from a roster): IAM user, key pair, security group, launch template, alerts',
    common: PROVISIONING_FLAGS,
    load: async () => (await import('./provision.js')).provisionCommand,
  },
  {
    name: 'deprovision',
    summary: "remove a user's baseline (refuses while they have running instances)",
    common: PROVISIONING_FLAGS,
    load: async () => (await import('./provision.js')).deprovisionCommand,
  },
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `cost-watchdog: find forgotten EC2 instances, warn their owners, stop them after a grace period.

Usage: cost-watchdog <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`cost-watchdog <command> --help\` for a command's options.

${commonHelp()}
  (each command takes the common options its --help lists)`;
}

/** A mistake in how the CLI was called (exit status 2): unknown command or flag, missing value. */
class UsageError extends WatchdogError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The JSON form of an error for --json: {"error": {type, message, field?, issues?, problem?}}. */
function errorJson(err: unknown): string {
  const base = {
    type: err instanceof Error ? err.name : 'Error',
    message: err instanceof WatchdogError ? err.message : describeError(err),
  };
  return JSON.stringify(
    {
      error: {
        ...base,
        ...(err instanceof InputError ? { field: err.field } : {}),
        ...(err instanceof PolicyError && err.issues.length > 0 ? { issues: err.issues } : {}),
        ...(err instanceof AwsAccessError ? { problem: err.problem } : {}),
      },
    },
    null,
    2,
  );
}

/** The long flags in `args` (before a `--`) that `options` does not know, with the closest known one. */
function unknownFlag(
  args: string[],
  options: Record<string, unknown>,
  command: string,
): UsageError | undefined {
  for (const arg of args) {
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') continue;
    if (!arg.startsWith('--')) {
      if (arg === '-h') continue;
      return new UsageError(
        `unknown option "${printable(arg)}" for ${command}: options are long (--name); -h is short for --help. See cost-watchdog ${command} --help.`,
      );
    }
    const name = arg.slice(2).split('=')[0] ?? '';
    if (name in options) continue;
    const near = closest(name, Object.keys(options));
    const elsewhere = (ALL_COMMON_FLAGS as readonly string[]).includes(name)
      ? ` (${command} does not use it)`
      : '';
    return new UsageError(
      `unknown option "--${printable(name)}" for ${command}${elsewhere}${near ? `: did you mean --${near}?` : ''}. See cost-watchdog ${command} --help.`,
    );
  }
  return undefined;
}

/** Runs the CLI with `argv` (without node and script); returns the exit status. Never calls process.exit. */
export async function main(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  const fail = (err: unknown, verbose = false): number => {
    if (json) io.out(errorJson(err));
    else if (err instanceof WatchdogError) io.err(`error: ${err.message}`);
    else {
      io.err(`error: ${describeError(err)}`);
      if (verbose && err instanceof Error && err.stack) io.err(err.stack);
      else io.err('(run again with --verbose for details)');
    }
    return err instanceof UsageError ? 2 : 1;
  };

  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.out('cost-watchdog 0.1.0');
    return 0;
  }
  const found = COMMANDS.find((c) => c.name === name);
  if (!found) {
    const near = closest(
      name,
      COMMANDS.map((c) => c.name),
    );
    return fail(
      new UsageError(
        `unknown command "${printable(name)}"${near ? `: did you mean "${near}"?` : '.'} Commands: ${COMMANDS.map((c) => c.name).join(', ')}. See cost-watchdog --help.`,
      ),
    );
  }
  const command = await found.load();
  const flags = found.common ?? command.common ?? ALL_COMMON_FLAGS;
  const options = { ...commonOptions(flags), ...command.options };
  const unknown = unknownFlag(rest, options, command.name);
  if (unknown) return fail(unknown);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = cleanLine(describeError(err).replace(/^TypeError \[\w+\]: /, ''));
    return fail(new UsageError(`${message}. See cost-watchdog ${command.name} --help.`));
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help === true) {
    io.out(`${command.usage}\n\n${commonHelp(flags)}`);
    return 0;
  }
  if (!command.positionals && parsed.positionals.length > 0) {
    return fail(
      new UsageError(
        `unexpected argument "${printable(parsed.positionals[0])}" for ${command.name}. See cost-watchdog ${command.name} --help.`,
      ),
    );
  }
  try {
    const common = readCommon(values, io);
    command.validate?.(values, io.env);
    // One check before anything is printed: no credentials, an expired session, a region not enabled or an
    // unreachable endpoint is one line with the fix, not a half-printed report.
    const identity = (command.callsAws?.(values) ?? true) ? await checkAccess(common.home) : undefined;
    return await command.run({
      values,
      positionals: parsed.positionals,
      common,
      io,
      ...(identity ? { identity } : {}),
    });
  } catch (err) {
    return fail(err, values.verbose === true);
  }
}
