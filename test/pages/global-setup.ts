import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The browser the page tests drive: Debian's chromium unless CHROMIUM names another. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * `bash scripts/browser.sh setup`: installs Debian's chromium with apt-get when it is missing (playwright-core
 * downloads no browser of its own). Fails with what to do when it cannot.
 */
export default function setup(): void {
  if (existsSync(CHROMIUM)) return;
  const res = spawnSync('bash', [join(ROOT, 'scripts', 'browser.sh'), 'setup'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  if (res.status !== 0 || !existsSync(CHROMIUM)) {
    throw new Error(
      [
        `The page tests need Chromium at ${CHROMIUM}, and \`bash scripts/browser.sh setup\` could not install it:`,
        `${res.stderr ?? res.error?.message ?? ''}`.trim(),
        'Install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium.',
      ].join('\n'),
    );
  }
}
