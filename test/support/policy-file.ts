import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Writes `text` as a watchdog.yml in a fresh temporary folder and returns its path (POLICY_FILE / --policy). */
export function policyFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cw-policy-')), 'watchdog.yml');
  writeFileSync(file, text);
  return file;
}
