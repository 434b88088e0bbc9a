/**
 * How the function bundles are built (scripts/bundling.cjs): the SDK schema rewrite keeps the same objects,
 * serverless.yml uses the same options as the benchmark, and the packaged sweep carries only what it calls.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import bundling from '../../scripts/bundling.cjs';
import { extractZip, packagedFunctionZip } from '../support/packaged-template.js';

const { LAMBDA_BUILD, SCHEMA_FILE, inlineSchemaKeys } = bundling;

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
    expect(loaded).toEqual(['cost-watchdog-sdk-schema-keys']);
  });

  it('package a sweep that carries the EC2, SageMaker and RDS operations it calls and not the others', () => {
    // Prepare: the bundle inside the deployment zip serverless built
    const dir = mkdtempSync(join(tmpdir(), 'cw-sweep-zip-'));
    extractZip(packagedFunctionZip('sweep'), dir);
    const code = readFileSync(join(dir, 'src', 'handlers', 'sweep.js'), 'utf8');
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
    // 0.90 MB now (0.78 MB before notebooks and databases: the RDS client adds 86 KB, 40 KB of it the 151 error
    // classes it registers at load, and SageMaker 11 KB); 2.5 MB with the CommonJS SDK build, 1.1 MB with zod's
    // locales (import * as z keeps them out).
    expect(code.length).toBeLessThan(1_000_000);
    expect(code, 'zod locales').not.toContain('Ungültige Eingabe');
  }, 300_000);
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
      outfile: join(tmpdir(), 'cw-init-graph.js'),
    });
    const inputs = built.metafile.inputs;
    const seen = new Set<string>();
    const stack = [entry];
    while (stack.length > 0) {
      const file = stack.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const i of inputs[file]?.imports ?? []) if (i.kind !== 'dynamic-import') stack.push(i.path);
    }
    return [...seen];
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
