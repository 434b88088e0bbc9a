import type { ParseArgsConfig } from 'node:util';
import type { Common, Io } from './context.js';

/** A flag every command may take (see COMMON_OPTIONS); each command names the ones it does take. */
export type CommonFlag = 'region' | 'endpoint-url' | 'profile' | 'policy' | 'at' | 'json' | 'dry-run';

/** What a command receives: its own flags, the validated common flags, and where to write. */
export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  common: Common;
  io: Io;
  /** Who the AWS credentials are (checked before a command that calls AWS runs); absent offline. */
  identity?: { account: string; arn: string };
}

/** One CLI command: its name, one-line summary, full help, own flags and what it does (returns the exit code). */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: ParseArgsConfig['options'];
  /** The common flags it takes (--verbose and --help always); absent = all of them. */
  common?: readonly CommonFlag[];
  /**
   * Whether this run calls AWS (then the credentials are checked first: one line with the fix, before anything is
   * printed); absent = always.
   */
  callsAws?: (values: CommandContext['values']) => boolean;
  /** Checks the command's own flags before anything else runs (before the credentials check); throws InputError. */
  validate?: (values: CommandContext['values'], env: NodeJS.ProcessEnv) => void;
  /** Takes positional arguments (otherwise extra words are an error). */
  positionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * A command as `cost-watchdog --help` lists it. Its module is loaded only when it runs or shows its own help, so that
 * the CLI starts without loading the AWS SDK clients it does not need.
 */
export interface CommandEntry {
  name: string;
  summary: string;
  /** The common flags it takes, for a command whose module does not say (else the module's `common`). */
  common?: readonly CommonFlag[];
  load(): Promise<Command>;
}
