import type { ParseArgsConfig } from 'node:util';
import type { Common, Io } from './context.js';

/** What a command receives: its own flags, the validated common flags, and where to write. */
export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  common: Common;
  io: Io;
}

/** One CLI command: its name, one-line summary, full help, own flags and what it does (returns the exit code). */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: ParseArgsConfig['options'];
  /** Takes positional arguments (otherwise extra words are an error). */
  positionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
