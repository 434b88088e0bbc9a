// `npm run build`: bundles the CLI (src/cli/bin.ts) to dist/cli.cjs, with the SDK options of the function bundles
// (scripts/bundling.cjs: ES build first, schema keys inlined) so that only the operations the CLI calls are in it.
// Not minified, so that stack traces stay readable.
'use strict';

const { join } = require('node:path');
const { build } = require('esbuild');
const { LAMBDA_BUILD, plugins } = require('./bundling.cjs');

const root = join(__dirname, '..');
build({
  ...LAMBDA_BUILD,
  minify: false,
  target: 'node20',
  plugins: plugins(),
  entryPoints: [join(root, 'src', 'cli', 'bin.ts')],
  outfile: join(root, 'dist', 'cli.cjs'),
  logLevel: 'warning',
}).catch(() => {
  process.exitCode = 1;
});
