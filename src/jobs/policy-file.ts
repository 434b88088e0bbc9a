import { existsSync, readFileSync } from 'node:fs';
import { PolicyError } from '../core/errors.js';
import { DEFAULT_POLICY, type Policy, parsePolicyText } from '../core/policy.js';

/** The policy file used when none is named: watchdog.yml in the working directory (or the Lambda bundle). */
export const DEFAULT_POLICY_FILE = 'watchdog.yml';

/**
 * Reads and validates a policy file. A named file that is missing is an error; with no name, watchdog.yml is
 * used when present and the defaults otherwise.
 */
export function readPolicyFile(path?: string): Policy {
  const file = path ?? DEFAULT_POLICY_FILE;
  if (!existsSync(file)) {
    if (path === undefined) return DEFAULT_POLICY;
    throw new PolicyError(`policy file ${file} not found: pass --policy with the path to your watchdog.yml`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError(`policy file ${file} cannot be read: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  return parsePolicyText(text, file);
}
