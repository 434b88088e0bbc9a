// `serverless invoke local -f sweep`: a local serverless plugin that lets Node load the function bundles there.
//
// serverless-esbuild bundles each function as CommonJS into .esbuild/.build/ and invoke local require()s it from
// there. This project's package.json says "type": "module", so Node would read those .js files as ES modules and
// fail ("module is not defined in ES module scope"). A package.json with "type": "commonjs" in the build folder
// tells Node what they are. Only for invoke local: deployment zips are unchanged (Lambda reads .js as CommonJS).
'use strict';

const { writeFileSync } = require('node:fs');
const { basename, dirname, join } = require('node:path');

class InvokeLocalCommonJs {
  constructor(serverless) {
    this.hooks = {
      // Runs after serverless-esbuild's own hook for the same event (plugins run in the order listed), which has
      // pointed the service folder at its build folder. Anywhere else (no serverless-esbuild) it writes nothing.
      'before:invoke:local:invoke': () => {
        const dir = serverless.serviceDir;
        if (basename(dir) === '.build' && basename(dirname(dir)) === '.esbuild') {
          writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
        }
      },
    };
  }
}

module.exports = InvokeLocalCommonJs;
