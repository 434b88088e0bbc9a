/**
 * The function bundles as they ship: the zips `serverless package` writes (their size is what Lambda stores and
 * loads), the handler file in each (an ES module; the code it loads later is in chunks beside it), its module init
 * time in fresh Node processes, and which AWS SDK clients it carries. For the sweep, a "bare" bundle of the same SDK clients and commands and nothing else is built with the
 * same options and timed in the same loop, so the sweep's own share of its cold start is measured, not guessed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import bundling from '../scripts/bundling.cjs';
import { median } from './report.js';

const { LAMBDA_BUILD, plugins } = bundling;

/** SDK clients the sweep must not carry (provisioning and pricing belong to other functions). */
// SSM stays: the sweep reads the action-link signing key (docs/actions.md) and keeps the month counters.
export const NOT_IN_SWEEP = ['@aws-sdk/client-iam', '@aws-sdk/client-pricing'];

/** One deployed function, measured. */
export interface BundleFigures {
  function: string;
  /** Size of the deployment zip serverless package wrote (KiB). */
  zipKiB: number;
  /** Size of the function's code inside it: the handler file and its chunks (KiB). */
  rawKiB: number;
  /** Size of the handler file alone, what its module init reads (KiB). */
  entryKiB: number;
  /** Median wall time of import() of the handler file in a fresh Node process (ms). */
  initMs: number;
  /** Median CPU time of the same (ms). */
  initCpuMs: number;
  sdkClients: string[];
  /** Clients found in the bundle that must not be there (sweep only). */
  forbidden: string[];
}

/** The sweep's init against a bundle of only its SDK clients and commands, timed in the same loop. */
export interface ColdStartFigures {
  sweepInitMs: number;
  bareInitMs: number;
  /** sweepInitMs / bareInitMs: the goal is at most 1.1. */
  ratio: number;
  sweepInitCpuMs: number;
  bareInitCpuMs: number;
  /** The SDK names the bare bundle exports (what the sweep imports from the SDK). */
  bareImports: string[];
  /** Sizes of the two handler files (their chunks are loaded later, when first used). */
  bareRawKiB: number;
  sweepRawKiB: number;
  runs: number;
}

const INIT_RUNS = 7;
const COLD_START_RUNS = 21;

/** Runs `serverless package` (offline, no credentials) into `dir`. */
export function serverlessPackage(root: string, dir: string): void {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules/serverless/bin/serverless.js'),
      'package',
      '--package',
      dir,
      '--param',
      'alertEmail=bench@example.com',
    ],
    {
      cwd: root,
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
    },
  );
}

/** Extracts a zip with `unzip`, or Python's zipfile where there is no `unzip`. */
export function extractZip(zip: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', dir], { stdio: 'pipe' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, dir], { stdio: 'pipe' });
  }
}

/** The handler file of an unzipped function (src/handlers/<name>.mjs). */
export function handlerFile(unzipped: string, name: string): string {
  return join(unzipped, 'src', 'handlers', `${name}.mjs`);
}

/** Bytes of all the code of an unzipped function (src/handlers/<name>.mjs and its chunks <name>.*.mjs). */
export function codeBytes(unzipped: string, name: string): number {
  const dir = join(unzipped, 'src', 'handlers');
  return readdirSync(dir)
    .filter((f) => f === `${name}.mjs` || (f.startsWith(`${name}.`) && f.endsWith('.mjs')))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** Measures every zip in `packageDir`, unzipping each into `outDir/<name>`. */
export async function measureBundles(
  root: string,
  packageDir: string,
  outDir: string,
): Promise<BundleFigures[]> {
  const out: BundleFigures[] = [];
  for (const zip of readdirSync(packageDir)
    .filter((f) => f.endsWith('.zip'))
    .sort()) {
    const name = basename(zip, '.zip');
    const dir = join(outDir, name);
    extractZip(join(packageDir, zip), dir);
    const file = handlerFile(dir, name);
    const sdkClients = await sdkClientsOf(root, name);
    const init = initTimes(file, INIT_RUNS);
    out.push({
      function: name,
      zipKiB: Math.round(statSync(join(packageDir, zip)).size / 1024),
      rawKiB: Math.round(codeBytes(dir, name) / 1024),
      entryKiB: Math.round(statSync(file).size / 1024),
      initMs: medianMs(init.map((t) => t.wallMs)),
      initCpuMs: medianMs(init.map((t) => t.cpuMs)),
      sdkClients,
      forbidden: name === 'sweep' ? sdkClients.filter((c) => NOT_IN_SWEEP.includes(c)) : [],
    });
  }
  return out;
}

/** SDK clients in a function's bundle: the same build (scripts/bundling.cjs) with esbuild's list of inputs. */
async function sdkClientsOf(root: string, name: string): Promise<string[]> {
  const result = await build({
    ...LAMBDA_BUILD,
    plugins: plugins(),
    entryPoints: [join(root, 'src', 'handlers', `${name}.ts`)],
    outdir: 'out',
    metafile: true,
    write: false,
    logLevel: 'error',
  });
  const clients = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules\/(@aws-sdk\/client-[\w-]+)\//.exec(input);
    if (m?.[1]) clients.add(m[1]);
  }
  return [...clients].sort();
}

/**
 * The sweep handler's init against a bare bundle of the SDK names its sources import (the same clients and
 * commands), built with the same options; the two are required alternately in fresh processes.
 */
export async function measureColdStart(
  root: string,
  sweepFile: string,
  outDir: string,
): Promise<ColdStartFigures> {
  // What the sweep's own sources import from the SDK (its esbuild metafile names the sources in the bundle).
  const result = await build({
    ...LAMBDA_BUILD,
    plugins: plugins(),
    entryPoints: [join(root, 'src', 'handlers', 'sweep.ts')],
    outdir: join(outDir, 'sweep-metafile'),
    metafile: true,
    write: false,
    logLevel: 'error',
  });
  const bySource = new Map<string, Set<string>>();
  for (const input of Object.keys(result.metafile.inputs).filter((p) => p.startsWith('src/'))) {
    const text = readFileSync(join(root, input), 'utf8');
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/client-[\w-]+)'/g)) {
      const names = bySource.get(m[2] as string) ?? new Set<string>();
      for (const part of (m[1] as string).split(',')) {
        const name = part.trim();
        if (name && !name.startsWith('type ')) names.add(name.split(/\s+as\s+/)[0] as string);
      }
      bySource.set(m[2] as string, names);
    }
  }
  const entry = join(outDir, 'bare-entry.mjs');
  // Two clients can have a command of the same name (EC2's and SageMaker's DeleteTagsCommand): the later ones are
  // exported under the client's name as well, so the entry stays valid.
  const exported = new Set<string>();
  const lines = [...bySource].map(([pkg, names]) => {
    const specifiers = [...names].sort().map((name) => {
      if (!exported.has(name)) {
        exported.add(name);
        return name;
      }
      return `${name} as ${pkg.replace('@aws-sdk/client-', '').replace(/-/g, '_')}_${name}`;
    });
    return `export { ${specifiers.join(', ')} } from '${pkg}';`;
  });
  writeFileSync(entry, `${lines.join('\n')}\n`);
  // Split into chunks as the sweep is (the SDK's credential providers are loaded when first used, by both).
  const bareDir = join(outDir, 'bare');
  const bare = join(bareDir, 'bare-entry.mjs');
  await build({
    ...LAMBDA_BUILD,
    plugins: plugins(),
    entryPoints: [entry],
    outdir: bareDir,
    nodePaths: [join(root, 'node_modules')],
    logLevel: 'error',
  });
  const sweep: InitTime[] = [];
  const bareTimes: InitTime[] = [];
  for (let i = 0; i < COLD_START_RUNS; i++) {
    sweep.push(...initTimes(sweepFile, 1));
    bareTimes.push(...initTimes(bare, 1));
  }
  const sweepInitMs = medianMs(sweep.map((t) => t.wallMs));
  const bareInitMs = medianMs(bareTimes.map((t) => t.wallMs));
  return {
    sweepInitMs,
    bareInitMs,
    ratio: Math.round((sweepInitMs / bareInitMs) * 100) / 100,
    sweepInitCpuMs: medianMs(sweep.map((t) => t.cpuMs)),
    bareInitCpuMs: medianMs(bareTimes.map((t) => t.cpuMs)),
    bareImports: [...bySource].flatMap(([pkg, names]) =>
      [...names].sort().map((n) => `${pkg.replace('@aws-sdk/client-', '')}:${n}`),
    ),
    bareRawKiB: Math.round(statSync(bare).size / 1024),
    sweepRawKiB: Math.round(statSync(sweepFile).size / 1024),
    runs: COLD_START_RUNS,
  };
}

interface InitTime {
  wallMs: number;
  cpuMs: number;
}

/**
 * Wall and CPU time of import() of the ES module `file` in `runs` fresh Node processes (what a cold start adds to
 * Node's own; Lambda's Node runtime imports an .mjs handler the same way).
 */
function initTimes(file: string, runs: number): InitTime[] {
  const script =
    'const c=process.cpuUsage();const t=process.hrtime.bigint();' +
    `await import(${JSON.stringify(pathToFileURL(file).href)});` +
    'const w=Number(process.hrtime.bigint()-t)/1e6;const u=process.cpuUsage(c);' +
    'process.stdout.write(JSON.stringify({wallMs:w,cpuMs:(u.user+u.system)/1000}))';
  const out: InitTime[] = [];
  for (let i = 0; i < runs; i++) {
    const res = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:bench',
      },
    });
    if (res.status !== 0) throw new Error(`requiring ${file} failed: ${res.stderr}`);
    out.push(JSON.parse(res.stdout) as InitTime);
  }
  return out;
}

/** The median to a tenth of a millisecond. */
const medianMs = (xs: number[]) => Math.round(median(xs) * 10) / 10;
