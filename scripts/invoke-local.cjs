// `serverless invoke local -f sweep`: a local serverless plugin that lets serverless load the function bundles.
//
// serverless-esbuild bundles each function as an ES module (src/handlers/<name>.mjs and its chunks) into
// .esbuild/.build/, and invoke local loads the handler from there, but it only looks for <name>.js (or .cjs). For
// the function invoked, this writes a <name>.js beside the bundle that re-exports it, and a package.json saying
// that .js files there are ES modules. Only for invoke local: deployment zips are unchanged (Lambda finds the .mjs).
'use strict';

const { writeFileSync } = require('node:fs');
const { basename, dirname, join } = require('node:path');

class InvokeLocalEsm {
  constructor(serverless, options) {
    this.hooks = {
      // Runs after serverless-esbuild's own hook for the same event (plugins run in the order listed), which has
      // pointed the service folder at its build folder. Anywhere else (no serverless-esbuild) it writes nothing.
      'before:invoke:local:invoke': () => {
        const dir = serverless.serviceDir;
        if (basename(dir) !== '.build' || basename(dirname(dir)) !== '.esbuild') return;
        writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
        const handler = serverless.service.getFunction(options.function).handler;
        const file = handler.slice(0, handler.lastIndexOf('.'));
        writeFileSync(join(dir, `${file}.js`), `export * from './${basename(file)}.mjs';\n`);
      },
    };
  }
}

module.exports = InvokeLocalEsm;
