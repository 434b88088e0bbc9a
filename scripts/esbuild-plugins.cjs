// The esbuild plugins of every function bundle, for serverless-esbuild (custom.esbuild.plugins in serverless.yml).
// They live in scripts/bundling.cjs with the rest of the bundle options.
'use strict';

module.exports = require('./bundling.cjs').plugins();
