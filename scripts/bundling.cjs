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
// And one keeps them fast: sdkXmlParser swaps the SDK's XML parser for scripts/aws-xml-parser.ts (same results).
'use strict';

const { createHash } = require('node:crypto');
const { readFile } = require('node:fs/promises');
const { join } = require('node:path');

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

/** The SDK's XML parser (@aws-sdk/xml-builder), and the one version of it scripts/aws-xml-parser.ts was compared with. */
const XML_PARSER_FILE = /[\\/]@aws-sdk[\\/]xml-builder[\\/]dist-es[\\/]xml-parser\.js$/;
const XML_PARSER_SHA256 = '5cf78ee442ca71df8037c69a182be175727362c3591b4007d31768f20b25c25b';

/**
 * Replaces the SDK's XML parser by scripts/aws-xml-parser.ts (same results, about twice as fast, much less
 * garbage: the sweep parses 3.5 MB of XML per 1,000 instances), but only while the SDK's file is the version the
 * replacement was compared with (test/unit/xml-parser.test.ts): after an SDK update the bundles keep the SDK's own
 * parser until the two are compared again and the hash is updated.
 */
const sdkXmlParser = {
  name: 'cost-watchdog-sdk-xml-parser',
  setup(build) {
    build.onLoad({ filter: XML_PARSER_FILE }, async (args) => {
      const original = await readFile(args.path);
      if (createHash('sha256').update(original).digest('hex') !== XML_PARSER_SHA256) return undefined;
      const replacement = join(__dirname, 'aws-xml-parser.ts');
      return { contents: await readFile(replacement, 'utf8'), loader: 'ts', resolveDir: __dirname };
    });
  },
};

/** esbuild options of every function bundle (serverless.yml's custom.esbuild says the same; a test compares). */
const LAMBDA_BUILD = {
  bundle: true,
  minify: true,
  sourcemap: false,
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
};

module.exports = {
  LAMBDA_BUILD,
  SCHEMA_FILE,
  XML_PARSER_FILE,
  XML_PARSER_SHA256,
  inlineSchemaKeys,
  plugins: () => [sdkSchemaKeys, sdkXmlParser],
  sdkSchemaKeys,
  sdkXmlParser,
};
