/**
 * How the function bundles are built (scripts/bundling.cjs): the SDK schema rewrite keeps the same objects,
 * serverless.yml uses the same options as the benchmark, and the packaged sweep carries only what it calls.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import bundling from '../../scripts/bundling.cjs';
import { extractZip, packagedFunctionZip } from '../support/packaged-template.js';

const { LAMBDA_BUILD, SCHEMA_FILE, inlineSchemaKeys, plugins } = bundling;

/** The code files of an unzipped function, relative to its folder (src/handlers/*.mjs), sorted. */
function codeFiles(dir: string): string[] {
  return readdirSync(join(dir, 'src', 'handlers'))
    .map((f) => `src/handlers/${f}`)
    .sort();
}

/** The files a minified ES module imports by relative path: `from"./x.mjs"`, `import"./x.mjs"`, `import("./x.mjs")`. */
function relativeImports(code: string): string[] {
  return [...code.matchAll(/(?:from|import\(?)\s*"\.\/([^"]+)"/g)].map((m) => m[1] as string);
}

/** `start` and every file reached from it through `next` (its imports), sorted. */
function reachable(start: string, next: (file: string) => string[]): string[] {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...next(file));
  }
  return [...seen].sort();
}

/** Every file of an unzipped function, relative to its folder. */
function allFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

/** A schemas_0.js in the shape the SDK generates. */
const SCHEMA_SOURCE = [
  'const _xN = "xmlName";',
  'const _eQN = "ec2QueryName";',
  'const _In = "Instance";',
  'var other = {};',
  'export var Instance$ = [3, "com.amazonaws.ec2", _In, 0, [_In], [[0, { [_eQN]: `Instance`, [_xN]: "item" }]]];',
  'export var Odd$ = [{ [other]: 1 }, { [_unknown]: 2 }];',
].join('\n');

describe('the SDK schema rewrite (sdkSchemaKeys)', () => {
  it('writes computed keys of string constants as those strings and leaves every other key alone', () => {
    // Act
    const { contents, replaced } = inlineSchemaKeys(SCHEMA_SOURCE);

    // Assess
    expect(replaced).toBe(2);
    expect(contents).toContain('{ ["ec2QueryName"]: `Instance`, ["xmlName"]: "item" }');
    expect(contents).toContain('{ [other]: 1 }, { [_unknown]: 2 }');
  });

  it('builds the same schema objects as the original source', () => {
    // Prepare: run both versions as scripts (exports turned into assignments)
    const run = (source: string) => {
      const exports: Record<string, unknown> = { _unknown: 'u' };
      runInNewContext(source.replaceAll('export var ', 'exports.'), { exports, _unknown: 'u' });
      return exports;
    };

    // Act
    const before = run(SCHEMA_SOURCE);
    const after = run(inlineSchemaKeys(SCHEMA_SOURCE).contents);

    // Assess
    expect(after).toEqual(before);
  });

  it('applies to the schema files of SDK clients and only to those', () => {
    expect(SCHEMA_FILE.test('/x/node_modules/@aws-sdk/client-ec2/dist-es/schemas/schemas_0.js')).toBe(true);
    expect(
      SCHEMA_FILE.test('/x/node_modules/@aws-sdk/nested-clients/dist-es/submodules/sts/schemas/schemas_0.js'),
    ).toBe(true);
    expect(SCHEMA_FILE.test('/x/node_modules/@aws-sdk/client-ec2/dist-cjs/index.js')).toBe(false);
    expect(SCHEMA_FILE.test('/x/src/schemas/schemas_0.js')).toBe(false);
  });
});

describe('serverless.yml bundles', () => {
  it('builds with the options of scripts/bundling.cjs and its plugins', () => {
    // Prepare
    const sls = parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'silent' }) as {
      custom: { esbuild: Record<string, unknown> };
    };
    const { plugins: pluginFile, ...options } = sls.custom.esbuild;

    // Assess
    expect(options).toMatchObject(LAMBDA_BUILD);
    expect(pluginFile).toBe('./scripts/esbuild-plugins.cjs');
    const loaded = (
      createRequire(import.meta.url)('../../scripts/esbuild-plugins.cjs') as { name: string }[]
    ).map((p) => p.name);
    expect(loaded).toEqual([
      'cost-watchdog-sdk-schema-keys',
      'cost-watchdog-chunk-names',
      'cost-watchdog-browser-only',
    ]);
    // serverless-esbuild names the handler file itself: the same extension as esbuild's.
    expect(options.outputFileExtension).toBe(LAMBDA_BUILD.outExtension?.['.js']);
  });

  it('package a sweep that carries the EC2, SageMaker and RDS operations it calls and not the others', () => {
    // Prepare: the bundle inside the deployment zip serverless built
    const dir = mkdtempSync(join(tmpdir(), 'cw-sweep-zip-'));
    extractZip(packagedFunctionZip('sweep'), dir);
    const code = codeFiles(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    rmSync(dir, { recursive: true, force: true });

    // Assess
    for (const used of [
      'DescribeInstancesRequest',
      'StopInstancesRequest',
      'GetMetricDataInput',
      // notebooks and databases: only the operations the sweep calls
      'ListNotebookInstancesInput',
      'StopNotebookInstanceInput',
      'DescribeDBInstancesMessage',
      'StopDBInstanceMessage',
      'StopDBClusterMessage',
    ]) {
      expect(code, used).toContain(`"${used}"`);
    }
    for (const unused of [
      'WithdrawByoipCidrRequest',
      'CreateVpnConnectionRequest',
      'RunInstancesRequest',
      'CreateNotebookInstanceInput',
      'DeleteNotebookInstanceInput',
      'DeleteDBInstanceMessage',
      'CreateDBSnapshotMessage',
      'RestoreDBInstanceFromS3Message',
    ]) {
      expect(code, unused).not.toContain(unused);
    }
    // 0.95 MB in all its files now (0.90 MB as one CommonJS file; 0.78 MB before notebooks and databases: the RDS
    // client adds 86 KB, 40 KB of it the 151 error classes it registers at load, and SageMaker 11 KB); 2.5 MB with
    // the CommonJS SDK build, 1.1 MB with zod's locales (import * as z keeps them out).
    expect(code.length).toBeLessThan(1_000_000);
    expect(code, 'zod locales').not.toContain('Ungültige Eingabe');
  }, 300_000);
});

describe('the chunks of a function', () => {
  /** The files a build of the sweep writes, relative to its output folder. */
  const build = async (extra: Record<string, unknown>) => {
    const esbuild = await import('esbuild');
    const outdir = join(tmpdir(), 'cw-chunk-names');
    const result = await esbuild.build({
      ...LAMBDA_BUILD,
      plugins: plugins(),
      entryPoints: ['src/handlers/sweep.ts'],
      outdir,
      write: false,
      logLevel: 'silent',
      ...extra,
    });
    return result.outputFiles.map((f) => f.path.slice(outdir.length + 1)).sort();
  };

  it('are named after its handler, so that no other function zip takes them', async () => {
    const names = await build({});

    expect(names).toContain('sweep.mjs');
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) expect(name).toMatch(/^sweep(\.[\w-]+-[A-Z0-9]{8})?\.mjs$/);
  }, 60_000);

  it('keep a name the build gives them itself (the CLI puts its own in chunks/)', async () => {
    const chunks = (await build({ chunkNames: 'chunks/[name]-[hash]' })).filter((p) => p !== 'sweep.mjs');

    expect(chunks.length).toBeGreaterThan(3);
    for (const p of chunks) expect(p).toMatch(/^chunks\/[\w-]+-[A-Z0-9]{8}\.mjs$/);
  }, 60_000);
});

describe('each deployment zip', () => {
  const FAN_OUT_POLICY = 'accounts:\n  - id: "111122223333"\n';
  it.each([
    ['actions', {}],
    ['digest', {}],
    ['launch-guard', {}],
    ['provision', {}],
    ['sweep', {}],
    ['sweep-worker', { policy: FAN_OUT_POLICY }],
  ] as const)(
    '%s holds its handler, exactly the chunks it imports, and loads on its own',
    (fn, options) => {
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), `cw-zip-${fn}-`));
      try {
        extractZip(packagedFunctionZip(fn, {}, options), dir);
        const handler = `src/handlers/${fn}.mjs`;
        const reached = reachable(handler, (file) =>
          relativeImports(readFileSync(join(dir, file), 'utf8')).map((name) => `src/handlers/${name}`),
        );

        // Act: import the handler in a fresh Node process, in the unzipped folder alone, as Lambda would
        const loaded = execFileSync(
          process.execPath,
          [
            '--no-warnings',
            '--input-type=module',
            '-e',
            `const m = await import('./${handler}'); process.stdout.write(typeof m.handler);`,
          ],
          { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1' } },
        );

        // Assess: nothing missing, nothing of another function's, nothing unused
        expect(allFiles(dir)).toEqual(['watchdog.yml', ...codeFiles(dir)].sort());
        expect(codeFiles(dir)).toEqual(reached);
        for (const file of codeFiles(dir)) expect(file.startsWith(`src/handlers/${fn}.`), file).toBe(true);
        expect(loaded).toBe('function');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    300_000,
  );
});

describe('what a sweep container loads before its first invocation', () => {
  /** The files the bundle of `entry` evaluates at load: its static imports, not the dynamic ones. */
  async function loadedAtInit(entry: string): Promise<string[]> {
    const esbuild = await import('esbuild');
    const built = await esbuild.build({
      ...LAMBDA_BUILD,
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      outdir: join(tmpdir(), 'cw-init-graph'),
    });
    const inputs = built.metafile.inputs;
    return reachable(entry, (file) =>
      (inputs[file]?.imports ?? []).filter((i) => i.kind !== 'dynamic-import').map((i) => i.path),
    );
  }

  it.each(['src/handlers/sweep.ts', 'src/handlers/sweep-worker.ts'])(
    '%s builds no policy schema at load: zod, yaml and core/policy.ts wait for the first invocation',
    async (entry) => {
      const files = await loadedAtInit(entry);

      expect(files).toContain(entry);
      expect(files.filter((f) => /node_modules\/(zod|yaml)\/|src\/core\/policy\.ts$/.test(f))).toEqual([]);
    },
    60_000,
  );
});
