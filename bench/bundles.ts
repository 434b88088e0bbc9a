/**
 * Function bundles as serverless.yml builds them (scripts/bundling.cjs: bundle, minify, node22, cjs, SDK ES build): raw and
 * zipped size, module init time in a fresh Node process, and which AWS SDK clients each one carries.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import bundling from '../scripts/bundling.cjs';

const { LAMBDA_BUILD, plugins } = bundling;

/** SDK clients the sweep must not carry (provisioning and pricing belong to other functions). */
// SSM stays: the sweep reads the action-link signing key (docs/actions.md).
export const NOT_IN_SWEEP = ['@aws-sdk/client-iam', '@aws-sdk/client-pricing'];

/** One function bundle, measured. */
export interface BundleFigures {
  function: string;
  rawKB: number;
  zippedKB: number;
  /** Median of several fresh-process `require()` timings. */
  initMs: number;
  sdkClients: string[];
  /** Clients found in the bundle that must not be there (sweep only). */
  forbidden: string[];
}

const INIT_RUNS = 5;

/** Every src/handlers/*.ts that exports a `handler` (config.ts and other helpers are not functions). */
export function handlerFiles(root: string): string[] {
  const dir = join(root, 'src', 'handlers');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && /export const handler\b/.test(readFileSync(join(dir, f), 'utf8')))
    .sort()
    .map((f) => join(dir, f));
}

/** Builds and measures each handler bundle into `outDir`. */
export async function measureBundles(root: string, outDir: string): Promise<BundleFigures[]> {
  const out: BundleFigures[] = [];
  for (const entry of handlerFiles(root)) {
    const name = basename(entry, '.ts');
    const outfile = join(outDir, `${name}.cjs`);
    const result = await build({
      ...LAMBDA_BUILD,
      plugins: plugins(),
      entryPoints: [entry],
      outfile,
      metafile: true,
      logLevel: 'error',
    });
    const code = readFileSync(outfile);
    const clients = new Set<string>();
    for (const input of Object.keys(result.metafile.inputs)) {
      const m = /node_modules\/(@aws-sdk\/client-[\w-]+)\//.exec(input);
      if (m?.[1]) clients.add(m[1]);
    }
    const sdkClients = [...clients].sort();
    out.push({
      function: name,
      rawKB: Math.round(code.length / 1024),
      zippedKB: Math.round(deflateRawSync(code, { level: 9 }).length / 1024),
      initMs: initTime(outfile),
      sdkClients,
      forbidden: name === 'sweep' ? sdkClients.filter((c) => NOT_IN_SWEEP.includes(c)) : [],
    });
  }
  return out;
}

/** Median time to require() the bundle in a fresh Node process (what a Lambda cold start adds to Node's own). */
function initTime(file: string): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const times: number[] = [];
  for (let i = 0; i < INIT_RUNS; i++) {
    const res = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    if (res.status !== 0) throw new Error(`requiring ${file} failed: ${res.stderr}`);
    times.push(Number(res.stdout));
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] ?? 0);
}
