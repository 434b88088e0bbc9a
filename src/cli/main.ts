import { parseArgs } from 'node:util';
import { describeError, printable, WatchdogError } from '../core/errors.js';
import { cleanLine } from '../core/text.js';
import type { Command } from './command.js';
import { COMMON_HELP, COMMON_OPTIONS, type Io, readCommon } from './context.js';
import { digestCommand } from './digest.js';
import { planCommand, snapshotCommand, sweepCommand } from './fleet.js';
import { deprovisionCommand, provisionCommand } from './provision.js';
import { validateCommand } from './validate.js';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: Command[] = [
  planCommand,
  sweepCommand,
  validateCommand,
  snapshotCommand,
  digestCommand,
  provisionCommand,
  deprovisionCommand,
];

/** Registers a command (used by the modules that add provision, digest, ...). */
export function registerCommand(command: Command): void {
  if (!COMMANDS.some((c) => c.name === command.name)) COMMANDS.push(command);
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `cost-watchdog: find forgotten EC2 instances, warn their owners, stop them after a grace period.

Usage: cost-watchdog <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`cost-watchdog <command> --help\` for a command's options.

${COMMON_HELP}`;
}

/** Runs the CLI with `argv` (without node and script); returns the exit status. Never calls process.exit. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.out('cost-watchdog 0.1.0');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(
      `unknown command "${printable(name)}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}. See cost-watchdog --help.`,
    );
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.err(
      `${cleanLine(describeError(err).replace(/^TypeError \[\w+\]: /, ''))}\nSee cost-watchdog ${command.name} --help.`,
    );
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help === true) {
    io.out(`${command.usage}\n\n${COMMON_HELP}`);
    return 0;
  }
  if (!command.positionals && parsed.positionals.length > 0) {
    io.err(
      `unexpected argument "${printable(parsed.positionals[0])}". See cost-watchdog ${command.name} --help.`,
    );
    return 2;
  }
  try {
    const common = readCommon(values, io);
    return await command.run({ values, positionals: parsed.positionals, common, io });
  } catch (err) {
    if (err instanceof WatchdogError) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    io.err(`error: ${describeError(err)}`);
    if (values.verbose === true && err instanceof Error && err.stack) io.err(err.stack);
    else io.err('(run again with --verbose for details)');
    return 1;
  }
}
