#!/usr/bin/env node
// The CLI is bundled to dist/cli/main.mjs by `npm run build` (run automatically by `npm ci` / `npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli/main.mjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('cost-watchdog is not built yet: run `npm run build` in the project folder.\n');
  process.exitCode = 1;
} else {
  await import(bundle);
}
