/**
 * One temporary folder per test run: every test, and every process a test starts (serverless, the CLI, moto,
 * chromium), makes its temporary files in it (TMPDIR), and it is removed when the run ends. Without it a run
 * left some thousand folders in the system's temporary folder (policy files, packaged stacks, key files).
 * KEEP_TEST_TMP=1 keeps it, and says where it is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'cost-watchdog-test-'));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    if (process.env.KEEP_TEST_TMP === '1') process.stderr.write(`test files kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
