import { DEFAULT_POLICY_FILE } from '../jobs/policy-file.js';
import type { CommandContext } from './command.js';
import { loadPolicy, policySource } from './context.js';

/**
 * `validate` (commands.ts): checks a policy file and prints the effective policy, saying which file it read (or
 * that there is none and the defaults apply). An invalid or missing file throws PolicyError (exit 1; with --json,
 * {"error": ...} on stdout).
 */
export async function runValidate({ common, io }: CommandContext): Promise<number> {
  const policy = loadPolicy(common);
  const source = policySource(common);
  if (common.json) {
    io.out(JSON.stringify(policy, null, 2));
    return 0;
  }
  if (common.policyPath === undefined && !source.startsWith('./')) {
    io.out(
      `No ${DEFAULT_POLICY_FILE} here (${process.cwd()}): nothing to check. The built-in defaults apply; copy the project's ${DEFAULT_POLICY_FILE} here or pass --policy FILE. Effective policy:`,
    );
  } else {
    io.out(`${source} is valid. Effective policy:`);
  }
  io.out(JSON.stringify(policy, null, 2));
  return 0;
}
