// `npm run build`: bundles the CLI (src/cli/bin.ts) into dist/cli/, with the SDK options of the function bundles
// (scripts/bundling.cjs: ES build first, schema keys inlined) so that only the operations the CLI calls are in it.
// ES modules with code splitting, as the functions (LAMBDA_BUILD), its chunks in chunks/: each command's
// implementation (and the SDK clients it needs) is a chunk loaded by its dynamic import() only when the command
// runs, so `--help` reads a small file (README, docs/testing.md).
// Not minified, so that stack traces stay readable.
'use strict';

const { rmSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { build } = require('esbuild');
const { LAMBDA_BUILD, plugins } = require('./bundling.cjs');

const root = join(__dirname, '..');
// `node scripts/build-cli.cjs DIR` builds into DIR instead (tests build their own copy: test/unit/cli-binary.test.ts).
const outdir = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist', 'cli');
rmSync(outdir, { recursive: true, force: true });
// An earlier build's single bundle, if any.
if (!process.argv[2]) rmSync(join(root, 'dist', 'cli.cjs'), { force: true });
build({
  ...LAMBDA_BUILD,
  minify: false,
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  plugins: plugins(),
  entryPoints: { main: join(root, 'src', 'cli', 'bin.ts') },
  outdir,
  logLevel: 'warning',
}).catch(() => {
  process.exitCode = 1;
});
