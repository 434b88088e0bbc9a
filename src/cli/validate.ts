import type { Command } from './command.js';
import { loadPolicy } from './context.js';

/** `validate`: checks a policy file and prints the effective policy. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a policy file; print the effective policy with defaults filled in',
  usage: `cost-watchdog validate [--policy FILE] [--json]

Checks the policy (default ./watchdog.yml) against the schema. Every problem is
named with its field (or its line, for YAML syntax errors) and what is allowed.
Exit status 0 when valid, 1 when not.`,
  options: {},
  async run({ common, io }) {
    const policy = loadPolicy(common);
    if (common.json) io.out(JSON.stringify(policy, null, 2));
    else {
      io.out(`${common.policyPath ?? 'watchdog.yml'} is valid. Effective policy:`);
      io.out(JSON.stringify(policy, null, 2));
    }
    return 0;
  },
};
