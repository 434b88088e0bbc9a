// How every Lambda bundle is built: serverless.yml (custom.esbuild, through scripts/esbuild-plugins.cjs), the
// benchmark (bench/) and the bundle tests use these same options, so what is measured and tested is what ships.
//
// Two settings keep the AWS SDK clients small (docs/scale.md):
// - mainFields module first: esbuild takes each SDK package's ES build (dist-es), which it can tree-shake, instead
//   of the one-file CommonJS build (dist-cjs) that carries every operation of the service.
// - sdkSchemaKeys: an SDK client's schemas (dist-es/schemas/schemas_0.js, 1.3 MB for EC2) describe every
//   operation as plain array literals, but their traits use computed keys such as `{ [_xN]: "item" }` where
//   `const _xN = "xmlName"`. esbuild cannot prove a computed key free of side effects, so it keeps every schema
//   (and the names they use) even when no command refers to it. The plugin writes those keys as the string they
//   already are (`{ ["xmlName"]: "item" }`): the same object at run time, and unused schemas can be dropped.
//   For the EC2 client of the sweep this is 1.48 MB -> 0.32 MB of minified code and ~60 MB less memory.
//
// ES modules with code splitting: each function's code that runs only on its first invocation (the policy's zod
// schema and YAML parser, the sweep itself, the SDK's credential providers) is its own file, imported when first
// used, so a cold start parses only what the module init needs (docs/scale.md "Cold start"). The chunks of a
// function are named after it (`sweep.chunk-XXXX.mjs`): serverless-esbuild leaves files named after another
// function's handler out of a function's zip, so each zip carries its own chunks only (test/unit/bundles.test.ts).
'use strict';

const { readFile } = require('node:fs/promises');

/** SDK schema files: @aws-sdk/client-<name>/dist-es/schemas/schemas_N.js and nested-clients' submodules. */
const SCHEMA_FILE =
  /[\\/]@aws-sdk[\\/](client-[^\\/]+|nested-clients)[\\/]dist-es[\\/](submodules[\\/][^\\/]+[\\/])?schemas[\\/]schemas_\d+\.js$/;

/**
 * Replaces each computed key `[_name]:` whose `_name` is a top-level `const _name = "string"` of the same file
 * by that string. Anything else is left as it is.
 */
function inlineSchemaKeys(source) {
  const strings = new Map();
  for (const m of source.matchAll(/^const (_\w+) = ("[^"\\\n]*");$/gm)) strings.set(m[1], m[2]);
  let replaced = 0;
  const contents = source.replace(/\[(_\w+)\]:/g, (all, name) => {
    const value = strings.get(name);
    if (value === undefined) return all;
    replaced++;
    return `[${value}]:`;
  });
  return { contents, replaced };
}

/** The esbuild plugin. */
const sdkSchemaKeys = {
  name: 'cost-watchdog-sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_FILE }, async (args) => {
      const { contents } = inlineSchemaKeys(await readFile(args.path, 'utf8'));
      return { contents, loader: 'js' };
    });
  },
};

/**
 * Names a function's chunks after its handler file (`src/handlers/sweep.ts` -> `sweep.[name]-[hash]`) when the
 * build splits code and says nothing itself (the CLI build names its own).
 */
const chunkNames = {
  name: 'cost-watchdog-chunk-names',
  setup(build) {
    const options = build.initialOptions;
    const entries = Array.isArray(options.entryPoints) ? options.entryPoints : [];
    if (!options.splitting || options.chunkNames !== undefined || entries.length !== 1) return;
    const entry = typeof entries[0] === 'string' ? entries[0] : entries[0].in;
    const name = entry.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
    options.chunkNames = `${name}.[name]-[hash]`;
  },
};

/**
 * The SDK's browser user-agent parser (@aws-sdk/core's createUserAgentStringParsingProvider) imports `bowser` with
 * import(): the provider itself is tree-shaken out of every function, but with code splitting esbuild would still
 * write bowser (35 KB) as a chunk nobody imports. It stays an external name that no code of ours reaches.
 */
const browserOnly = {
  name: 'cost-watchdog-browser-only',
  setup(build) {
    build.onResolve({ filter: /^bowser$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** CommonJS packages inside an ES module bundle call require() (node built-ins): give them one. */
const CREATE_REQUIRE =
  "import { createRequire as __cwCreateRequire } from 'node:module'; const require = __cwCreateRequire(import.meta.url);";

/** esbuild options of every function bundle (serverless.yml's custom.esbuild says the same; a test compares). */
const LAMBDA_BUILD = {
  bundle: true,
  minify: true,
  sourcemap: false,
  target: 'node22',
  platform: 'node',
  format: 'esm',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  banner: { js: CREATE_REQUIRE },
  mainFields: ['module', 'main'],
};

module.exports = {
  LAMBDA_BUILD,
  SCHEMA_FILE,
  inlineSchemaKeys,
  CREATE_REQUIRE,
  chunkNames,
  browserOnly,
  plugins: () => [sdkSchemaKeys, chunkNames, browserOnly],
  sdkSchemaKeys,
};
