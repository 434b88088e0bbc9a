/**
 * `npm run bench`: the deployed sweep function (the sweep.zip `serverless package` builds) invoked in fresh Node
 * processes started as Lambda starts it, against a fake AWS (bench/fake-aws.ts) in another process that enforces
 * AWS's limits and latencies; then where its CPU goes, its cold start against a bare bundle of the same SDK
 * clients, and every function zip. Writes bench/results.json and the tables in README.md and docs/scale.md that
 * come from it (bench/report.ts). A measurement: it asserts nothing.
 */
import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import bundling from '../scripts/bundling.cjs';
import { fanOutDeployment } from '../src/core/fan-out-deployment.js';
import { FAN_OUT_VERSION, runIdFor, type TargetMessage } from '../src/core/fan-out.js';
import { parsePolicy } from '../src/core/policy.js';
import { RESULT_READERS } from '../src/jobs/fan-out.js';
import { runsPerMonth } from '../src/core/self-cost.js';
import { parse as parseYaml } from 'yaml';
import { BASELINE_COMMIT, buildBaseline } from './baseline.js';
import { codeBytes, handlerFile, measureBundles, measureColdStart, serverlessPackage } from './bundles.js';
import { type FanOutDeploymentFigures, type FanOutMeasured, fanOutModel } from './fan-out-model.js';
import { AWS_RATE_LIMITS, type FakeAwsOptions, type FakeStats, type LatencyModel } from './fake-aws.js';
import type { InvokeRun } from './invoke-sweep.js';
import type { WorkerInvocation, WorkerRun } from './invoke-worker.js';
import { functionMemoryMB, lambdaNodeFlags } from './lambda-runtime.js';
import { cpuByArea } from './profile.js';
import {
  type BaselineFigures,
  type BenchResults,
  type FanOutFigures,
  lambdaEstimateMs,
  median,
  renderTables,
  type SweepFigures,
  VCPU_MEMORY_MB,
} from './report.js';

const { LAMBDA_BUILD, plugins } = bundling;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Latency per call: 250 ms for every call, plus 0.5 ms per instance in a DescribeInstances page (a full page of
 * 1,000 takes 750 ms, three times a small call) and 0.01 ms per datapoint in a metrics answer (a GetMetricData
 * batch of 500 series x 24 points takes 370 ms). See bench/fake-aws.ts and docs/scale.md.
 */
const LATENCY: LatencyModel = { baseMs: 250, perInstanceMs: 0.5, perDatapointMs: 0.01 };
const HOME = 'us-east-1';
const FOUR = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'];

/**
 * The fan-out run: 1,000 member accounts x the four regions, each target a small fleet of FAN_OUT_FLEET instances
 * per region. A sample of real sweep-worker invocations (FAN_OUT_SAMPLE_BATCHES full batches, then
 * FAN_OUT_ALONE invocations of one target) and the planner over all 4,000 targets.
 */
/** 10,000-instance steady runs of the baseline and of this sweep each (alternating; medians reported). */
const BASELINE_RUNS = 5;
const FAN_OUT_ACCOUNTS = 1_000;
const FAN_OUT_FLEET = 5;
const FAN_OUT_SAMPLE_BATCHES = 4;
const FAN_OUT_ALONE = 3;
const HOME_ACCOUNT = '123456789012';
const memberAccount = (k: number) => String(100_000_000_000 + k);

interface RunSpec {
  name: string;
  fleet: Record<string, number>;
  scenario: 'steady' | 'first';
  /** Also run it as a plain `node` process (no Lambda heap flags) for its peak RSS. */
  plain?: boolean;
  /** Share of calls throttled at random on top of the rate limits. */
  randomThrottle?: number;
  /** A new account: no signing key and no month counters in SSM yet. */
  newAccount?: boolean;
}

/** The runs: steady (the hourly run, nothing new) and first (30 % newly idle), one region and four. */
const RUNS: RunSpec[] = [
  { name: '100 steady', fleet: { [HOME]: 100 }, scenario: 'steady' },
  { name: '1,000 steady', fleet: { [HOME]: 1_000 }, scenario: 'steady' },
  { name: '10,000 steady', fleet: { [HOME]: 10_000 }, scenario: 'steady', plain: true },
  {
    name: '10,000 steady, 5 % throttled',
    fleet: { [HOME]: 10_000 },
    scenario: 'steady',
    randomThrottle: 0.05,
  },
  { name: '100 first', fleet: { [HOME]: 100 }, scenario: 'first', newAccount: true },
  { name: '10,000 first', fleet: { [HOME]: 10_000 }, scenario: 'first', newAccount: true },
  {
    name: '10,000 in 4 regions steady',
    fleet: Object.fromEntries(FOUR.map((r) => [r, 2_500])),
    scenario: 'steady',
    plain: true,
  },
];

function git(...args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** The fake AWS in its own process, configured run by run over IPC. */
class FakeServer {
  private constructor(private readonly child: ChildProcess) {}

  static async start(file: string): Promise<FakeServer> {
    const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new FakeServer(child);
  }

  private ask<T>(message: unknown, key: string): Promise<T> {
    return new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          this.child.off('message', on);
          resolve(m[key] as T);
        }
      };
      this.child.on('message', on);
      this.child.send(message as object);
    });
  }

  configure(options: FakeAwsOptions): Promise<number> {
    return this.ask({ configure: options }, 'port');
  }

  stats(): Promise<FakeStats> {
    return this.ask({ stats: true }, 'stats');
  }

  queue(name: string): Promise<string[]> {
    return this.ask({ queue: name }, 'bodies');
  }

  clearParameters(): Promise<unknown> {
    return this.ask({ clearParameters: true }, 'cleared');
  }

  stop(): void {
    this.child.disconnect();
  }
}

/**
 * BENCH_ONLY=<regex>: only the sweep runs whose name matches, printed and not written anywhere (for working on
 * one figure; the committed results always come from a full run).
 */
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'cost-watchdog-bench-'));
  const loadBefore = Math.round((loadavg()[0] ?? 0) * 10) / 10;
  let fake: FakeServer | undefined;
  try {
    // 1. The deployment zips, as `serverless deploy` would upload them.
    const packageDir = join(work, 'package');
    serverlessPackage(ROOT, packageDir);
    const unzipped = join(work, 'functions');
    const bundles = await measureBundles(ROOT, packageDir, unzipped);
    const sweepHandler = handlerFile(join(unzipped, 'sweep'), 'sweep');
    process.stderr.write(`bench: packaged ${bundles.length} functions\n`);

    // 2. The driver, the fake's server, and the policy the runs use: the packaged one with a budget set, so the
    // budget read happens as it does for users who set one.
    const driver = join(work, 'invoke-sweep.cjs');
    const workerDriver = join(work, 'invoke-worker.cjs');
    const server = join(work, 'fake-server.cjs');
    // The drivers are plain CommonJS scripts (one file each) that import() the function's ES module.
    for (const [entry, outfile] of [
      ['invoke-sweep.ts', driver],
      ['invoke-worker.ts', workerDriver],
      ['fake-server.ts', server],
    ] as const)
      await build({
        ...LAMBDA_BUILD,
        format: 'cjs',
        splitting: false,
        outExtension: {},
        banner: {},
        target: 'node20',
        plugins: plugins(),
        entryPoints: [join(ROOT, 'bench', entry)],
        outfile,
        logLevel: 'error',
      });
    const packaged = readFileSync(join(unzipped, 'sweep', 'watchdog.yml'), 'utf8');
    const policy = packaged.replace(/^( {2}monthlyUsd:) null/m, '$1 1000');
    if (policy === packaged) throw new Error('the packaged watchdog.yml has no `monthlyUsd: null` to set');
    const policyFile = join(work, 'watchdog.yml');
    writeFileSync(policyFile, policy);

    const memoryMB = functionMemoryMB(ROOT, 'sweep');
    const lambdaFlags = lambdaNodeFlags(memoryMB);
    fake = await FakeServer.start(server);
    const configure = (spec: Pick<RunSpec, 'fleet' | 'scenario' | 'randomThrottle'>) =>
      (fake as FakeServer).configure({
        fleet: spec.fleet,
        scenario: spec.scenario,
        now: Date.now(),
        latency: LATENCY,
        throttle: { limits: AWS_RATE_LIMITS, randomShare: spec.randomThrottle ?? 0, seed: 16 },
      });
    const invoke = (
      port: number,
      flags: string[],
      invocations = 1,
      handler = sweepHandler,
      extraFlags: string[] = [],
      extraEnv: Record<string, string> = {},
      script: string[] = [driver, handler, String(invocations)],
    ): InvokeRun & { logBytes: number } => {
      const res = spawnSync(process.execPath, ['--no-warnings', ...flags, ...extraFlags, ...script], {
        encoding: 'utf8',
        cwd: dirname(dirname(dirname(handler))),
        maxBuffer: 1 << 26,
        env: {
          PATH: process.env.PATH ?? '',
          ...(process.env.BENCH_WORKER_LOG ? { BENCH_WORKER_LOG: process.env.BENCH_WORKER_LOG } : {}),
          AWS_REGION: HOME,
          AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AWS_SESSION_TOKEN: 'bench',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMB),
          TOPIC_ARN: `arn:aws:sns:${HOME}:123456789012:cost-watchdog-prod-alerts`,
          ACTIONS_URL: 'https://actions.bench.invalid/',
          SIGNING_KEY_PARAMETER: '/cost-watchdog/signing-key',
          POLICY_FILE: policyFile,
          ...extraEnv,
        },
      });
      if (res.status !== 0) throw new Error(`benchmark invocation failed:\n${res.stderr}`);
      const last = res.stdout.trim().split('\n').pop() ?? '{}';
      // What the handler logged (stdout and stderr but the driver's JSON line): what Lambda sends to CloudWatch Logs.
      const logBytes =
        Buffer.byteLength(res.stdout) - Buffer.byteLength(last) + Buffer.byteLength(res.stderr);
      return { ...(JSON.parse(last) as InvokeRun), logBytes };
    };

    // A first run of a 100-instance account, so SSM holds a signing key and this month's counters (not recorded).
    await fake.clearParameters();
    invoke(await configure({ fleet: { [HOME]: 100 }, scenario: 'first' }), lambdaFlags);

    // 3. The runs.
    const sweeps: SweepFigures[] = [];
    for (const spec of RUNS.filter((r) => !ONLY || ONLY.test(r.name))) {
      if (spec.newAccount) await fake.clearParameters();
      const run = invoke(await configure(spec), lambdaFlags);
      const stats = await fake.stats();
      let plainPeak: number | undefined;
      if (spec.plain) {
        if (spec.newAccount) await fake.clearParameters();
        plainPeak = invoke(await configure(spec), []).peakRssMB;
      }
      const inv = run.invocations[0] as InvokeRun['invocations'][number];
      const totalCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
      sweeps.push({
        name: spec.name,
        scenario: spec.scenario,
        regionsWithInstances: Object.keys(spec.fleet).length,
        instances: inv.instances,
        randomThrottle: spec.randomThrottle ?? 0,
        calls: sortKeys(stats.calls),
        throttled: sortKeys(stats.throttled),
        serviceErrors: sortKeys(stats.errors),
        metricPages: stats.metricPages,
        totalCalls,
        peakCallsInFlight: stats.peakInFlight,
        responseMB: Math.round((stats.responseBytes / 1048576) * 10) / 10,
        wallMs: inv.wallMs,
        cpuMs: inv.cpuMs,
        lambdaEstimateMs: lambdaEstimateMs(inv.wallMs, inv.cpuMs, memoryMB),
        peakRssMB: run.peakRssMB,
        rssAfterInitMB: run.rssAfterInitMB,
        ...(plainPeak !== undefined ? { peakRssPlainNodeMB: plainPeak } : {}),
        decisions: inv.decisions,
        warned: inv.warned,
        stopped: inv.stopped,
        postponed: inv.postponed,
        alertsSent: inv.alertsSent,
        metricsApi: inv.metricsApi,
        errors: inv.errors,
      });
      process.stderr.write(`bench: ${spec.name}: ${inv.wallMs} ms wall, ${inv.cpuMs} ms CPU\n`);
    }

    // 3a. Against the code before #16 (bench/baseline.ts): the 10,000-instance steady run of both sweeps, in
    // alternation, each after a first run of its own (its signing key and counters in SSM, as it writes them).
    let baseline: BaselineFigures | undefined;
    if (!ONLY || ONLY.test('baseline')) {
      const rev = process.env.BENCH_BASELINE ?? BASELINE_COMMIT;
      const built = await buildBaseline(ROOT, rev, join(work, 'baseline'));
      if ('missing' in built) baseline = { commit: rev, missing: built.missing };
      else {
        const runs = { before: [] as number[], after: [] as number[] };
        const decisions = { before: '', after: '' };
        for (let k = 0; k < BASELINE_RUNS; k++) {
          for (const [side, handler, file] of [
            ['before', built.handler, built.policyFile],
            ['after', sweepHandler, policyFile],
          ] as const) {
            await fake.clearParameters();
            const env = { POLICY_FILE: file };
            invoke(
              await configure({ fleet: { [HOME]: 100 }, scenario: 'first' }),
              lambdaFlags,
              1,
              handler,
              [],
              env,
            );
            const spec = { fleet: { [HOME]: 10_000 }, scenario: 'steady' as const };
            const inv = invoke(await configure(spec), lambdaFlags, 1, handler, [], env).invocations[0];
            runs[side].push(inv?.cpuMs ?? 0);
            decisions[side] = JSON.stringify(sortKeys(inv?.decisions ?? {}));
          }
        }
        baseline = {
          commit: built.commit,
          run: '10,000 steady',
          beforeCpuMs: runs.before,
          afterCpuMs: runs.after,
          medianBeforeMs: median(runs.before),
          medianAfterMs: median(runs.after),
          decisionsAgree: decisions.before === decisions.after,
        };
      }
      process.stderr.write(
        `bench: against ${baseline.commit}: ${'missing' in baseline ? baseline.missing : `${baseline.medianBeforeMs} -> ${baseline.medianAfterMs} ms CPU`}\n`,
      );
    }

    // 3b. The fan-out: a sample of the bundled sweep-worker, then the planner and summary over 4,000 targets.
    let fanOut: FanOutFigures | undefined;
    if (!ONLY || ONLY.test('fan-out')) {
      fanOut = await measureFanOut({
        work,
        policy,
        fake,
        configure: (fleet, echoResult) =>
          (fake as FakeServer).configure({
            fleet,
            scenario: 'steady',
            now: Date.now(),
            latency: LATENCY,
            throttle: { limits: AWS_RATE_LIMITS, randomShare: 0, seed: 16 },
            ...(echoResult ? { echoResult } : {}),
          }),
        invoke,
        sweepHandler,
        workerDriver,
      });
    }

    if (ONLY) {
      process.stdout.write(`${JSON.stringify({ sweeps, baseline, fanOut }, null, 1)}\n`);
      return;
    }
    if (!fanOut) throw new Error('the fan-out was not measured');
    if (!baseline) throw new Error('the baseline was not measured');

    // 4. The first invocation's set-up: a fresh process invoked twice over the same 100 instances; the first
    // invocation's extra time is client creation, credential resolution and the first calls.
    const setups: { first: number; second: number; firstCpu: number; secondCpu: number; init: number }[] = [];
    for (let k = 0; k < 3; k++) {
      const r = invoke(await configure({ fleet: { [HOME]: 100 }, scenario: 'steady' }), lambdaFlags, 2);
      const [a, b] = r.invocations as [InvokeRun['invocations'][number], InvokeRun['invocations'][number]];
      setups.push({
        first: a.wallMs,
        second: b.wallMs,
        firstCpu: a.cpuMs,
        secondCpu: b.cpuMs,
        init: r.initMs,
      });
    }

    // 5. Where the CPU of the 10,000-instance steady run goes (an unminified build of the same handler).
    const profileDir = join(work, 'profile');
    // One file (no chunks), so that every frame's module is found by the `// path` comments in it.
    const profileHandler = join(profileDir, 'src', 'handlers', 'sweep.mjs');
    await build({
      ...LAMBDA_BUILD,
      splitting: false,
      minify: false,
      plugins: plugins(),
      entryPoints: [join(ROOT, 'src', 'handlers', 'sweep.ts')],
      outfile: profileHandler,
      logLevel: 'error',
    });
    const profileRun = invoke(
      await configure({ fleet: { [HOME]: 10_000 }, scenario: 'steady' }),
      lambdaFlags,
      1,
      profileHandler,
      ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    );
    const profileFile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (!profileFile) throw new Error('node --cpu-prof wrote no profile');
    const profile = {
      run: '10,000 steady',
      cpuMs: profileRun.invocations[0]?.cpuMs ?? 0,
      ...cpuByArea(join(profileDir, profileFile), profileHandler),
    };
    fake.stop();
    fake = undefined;

    // 6. Cold start: the sweep's module init against a bare bundle of the same SDK clients.
    const coldDir = join(work, 'cold');
    mkdirSync(coldDir);
    const cold = await measureColdStart(ROOT, sweepHandler, coldDir);

    const results: BenchResults = {
      generatedAt: new Date().toISOString(),
      commit: git('rev-parse', 'HEAD'),
      dirty:
        (git(
          'status',
          '--porcelain',
          '--',
          'src',
          'bench',
          'scripts',
          'serverless.yml',
          ':!bench/results.json',
        ) ?? '') !== '',
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverage: { before: loadBefore, after: Math.round((loadavg()[0] ?? 0) * 10) / 10 },
      latency: LATENCY,
      rateLimits: AWS_RATE_LIMITS,
      lambda: {
        memoryMB,
        nodeFlags: lambdaFlags,
        vcpuShare: Math.round((memoryMB / VCPU_MEMORY_MB) * 1000) / 1000,
        estimate: `wall + CPU x (${VCPU_MEMORY_MB} / ${memoryMB} - 1)`,
      },
      sweep: sweeps,
      firstInvocation: {
        runs: setups.length,
        instances: 100,
        initMs: median(setups.map((s) => s.init)),
        firstWallMs: median(setups.map((s) => s.first)),
        secondWallMs: median(setups.map((s) => s.second)),
        setupWallMs: median(setups.map((s) => s.first - s.second)),
        firstCpuMs: median(setups.map((s) => s.firstCpu)),
        secondCpuMs: median(setups.map((s) => s.secondCpu)),
        setupCpuMs: median(setups.map((s) => s.firstCpu - s.secondCpu)),
      },
      coldStart: cold,
      baseline,
      profile,
      bundles,
      fanOut,
    };
    writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    for (const file of ['README.md', join('docs', 'scale.md')]) {
      const path = join(ROOT, file);
      writeFileSync(path, renderTables(readFileSync(path, 'utf8'), results));
    }
    process.stdout.write(
      `${summaryText(results)}\nwrote bench/results.json, README.md and docs/scale.md tables\n`,
    );
  } finally {
    fake?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** What measureFanOut needs of main(): the fake, its configuration, the invoker and the built files. */
interface FanOutBench {
  work: string;
  /** The packaged policy the sweep runs use (budget set). */
  policy: string;
  fake: FakeServer;
  configure: (fleet: Record<string, number>, echoResult?: string) => Promise<number>;
  invoke: (
    port: number,
    flags: string[],
    invocations?: number,
    handler?: string,
    extraFlags?: string[],
    extraEnv?: Record<string, string>,
    script?: string[],
  ) => InvokeRun & { logBytes: number };
  sweepHandler: string;
  workerDriver: string;
}

/**
 * The fan-out for 1,000 accounts x 4 regions: the stack's deployment settings read from the policy as serverless.yml
 * reads them; a sample of real invocations of the bundled sweep-worker (SQS events of target messages) against the
 * fake, for the time and calls per target; then the deployed sweep as the planner over all 4,000 targets, the fake
 * answering each target message at once with a copy of a real worker's result, for the planner's messages, requests,
 * time and memory and the summary's; and the model for 4 and 17 regions (bench/fan-out-model.ts).
 */
async function measureFanOut(b: FanOutBench): Promise<FanOutFigures> {
  // The policy of a stack with member accounts: the packaged one with 1,000 accounts and four regions.
  const accounts = Array.from({ length: FAN_OUT_ACCOUNTS }, (_, k) => memberAccount(k));
  const withAccounts = b.policy
    .replace(/^regions: all.*$/m, `regions: [${FOUR.join(', ')}]`)
    .replace(/^accounts: \[\].*$/m, `accounts: [${accounts.map((a) => `{ id: '${a}' }`).join(', ')}]`);
  if (!withAccounts.includes(`id: '${memberAccount(0)}'`) || withAccounts.includes('regions: all'))
    throw new Error('the packaged watchdog.yml has no `regions: all` and `accounts: []` lines to set');
  const deployed = fanOutDeployment(withAccounts, 'watchdog.yml');
  if (!deployed.deployed) throw new Error('a policy with member accounts does not deploy the fan-out');
  const parsed = parsePolicy(parseYaml(withAccounts), 'watchdog.yml');
  const deployment: FanOutDeploymentFigures = {
    concurrency: deployed.concurrency,
    batchSize: deployed.batchSize,
    workerMemoryMB: deployed.workerMemoryMB,
    sweepMemoryMB: functionMemoryMB(ROOT, 'sweep'),
    sweepConcurrency: parsed.concurrency,
    settleMinutes: parsed.fanOut.settleMinutes,
    summaryReaders: RESULT_READERS + 1,
    schedule: parsed.schedule,
    runsPerMonth: runsPerMonth(parsed.schedule),
  };
  const policyFile = join(b.work, 'watchdog-fan-out.yml');
  writeFileSync(policyFile, withAccounts);
  // The planner's copy waits at most 2 minutes for results (all are there at once; a fault must not hang the bench).
  const plannerPolicyFile = join(b.work, 'watchdog-fan-out-planner.yml');
  writeFileSync(plannerPolicyFile, `${withAccounts}\nfanOut:\n  settleMinutes: 2\n`);

  // The sweep-worker as serverless-esbuild bundles it (the default watchdog.yml deploys no worker to unzip).
  const workerDir = join(b.work, 'worker', 'src', 'handlers');
  const workerHandler = join(workerDir, 'sweep-worker.mjs');
  await build({
    ...LAMBDA_BUILD,
    plugins: plugins(),
    entryPoints: [join(ROOT, 'src', 'handlers', 'sweep-worker.ts')],
    outdir: workerDir,
    logLevel: 'error',
  });
  const queueUrl = (port: number, name: string) => `http://127.0.0.1:${port}/${HOME_ACCOUNT}/${name}`;
  const fanOutEnv = (port: number, file: string) => ({
    FAN_OUT: 'on',
    TARGETS_QUEUE_URL: queueUrl(port, 'targets'),
    RESULTS_QUEUE_URL: queueUrl(port, 'results'),
    DEAD_LETTER_QUEUE_URL: queueUrl(port, 'dead-letter'),
    POLICY_FILE: file,
  });
  const fleet = Object.fromEntries(FOUR.map((r) => [r, FAN_OUT_FLEET]));
  const targetsTotal = FAN_OUT_ACCOUNTS * FOUR.length;

  // 1. The worker sample: full batches (the first one in a cold container), then single targets.
  const now = new Date();
  const runId = runIdFor(now, false);
  let index = 0;
  const record = (account: string, region: string) => {
    const message: TargetMessage = {
      v: FAN_OUT_VERSION,
      kind: 'target',
      runId,
      at: now.toISOString(),
      index,
      total: targetsTotal,
      target: { region, account },
    };
    index++;
    return {
      messageId: `m${index}`,
      receiptHandle: `r${index}`,
      body: JSON.stringify(message),
      attributes: { ApproximateReceiveCount: '1' },
    };
  };
  // The planner's order (each account's regions one after another), cut into batches as the trigger receives them.
  const events: { Records: ReturnType<typeof record>[] }[] = [];
  const batchTargets = deployment.batchSize * FAN_OUT_SAMPLE_BATCHES;
  const flat = Array.from({ length: batchTargets }, (_, k) =>
    record(memberAccount(Math.floor(k / FOUR.length)), FOUR[k % FOUR.length] as string),
  );
  for (let k = 0; k < flat.length; k += deployment.batchSize)
    events.push({ Records: flat.slice(k, k + deployment.batchSize) });
  const firstAlone = Math.ceil(batchTargets / FOUR.length);
  for (let k = 0; k < FAN_OUT_ALONE; k++)
    events.push({ Records: [record(memberAccount(firstAlone + k), HOME)] });
  const eventsFile = join(b.work, 'worker-events.json');
  writeFileSync(eventsFile, JSON.stringify(events));
  const workerPort = await b.configure(fleet);
  const workerRun = b.invoke(
    workerPort,
    lambdaNodeFlags(deployment.workerMemoryMB),
    1,
    workerHandler,
    [],
    {
      ...fanOutEnv(workerPort, policyFile),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(deployment.workerMemoryMB),
    },
    [b.workerDriver, workerHandler, eventsFile],
  ) as unknown as WorkerRun;
  const workerStats = await b.fake.stats();
  const results = await b.fake.queue('results');
  const sampleTargets = index;
  if (results.length !== sampleTargets)
    throw new Error(
      `the worker sample sent ${results.length} results for ${sampleTargets} targets (log: BENCH_WORKER_LOG=1): ${JSON.stringify(workerRun.invocations)}`,
    );
  const lambdaOf = (i: WorkerInvocation) => lambdaEstimateMs(i.wallMs, i.cpuMs, deployment.workerMemoryMB);
  const batches = workerRun.invocations.slice(0, FAN_OUT_SAMPLE_BATCHES);
  const warm = batches.slice(1);
  const alone = workerRun.invocations.slice(FAN_OUT_SAMPLE_BATCHES);
  const cold = batches[0] as WorkerInvocation;
  const figuresOf = (xs: WorkerInvocation[]) => ({
    wallMs: median(xs.map((i) => i.wallMs)),
    cpuMs: median(xs.map((i) => i.cpuMs)),
    lambdaMs: median(xs.map(lambdaOf)),
  });
  const workerCalls = sortKeys(workerStats.calls);
  const totalWorkerCalls = Object.values(workerCalls).reduce((x, y) => x + y, 0);
  const perTarget = (n: number) => Math.round((n / sampleTargets) * 100) / 100;
  const workerSqsBilled = workerStats.sqsBilled['sqs:SendMessageBatch'] ?? 0;
  const workerLogBytes = workerRun.invocations.reduce((n, i) => n + i.logBytes, 0);
  const resultBytes = results.map((r) => Buffer.byteLength(r));
  process.stderr.write(
    `bench: fan-out worker sample: ${sampleTargets} targets, ${totalWorkerCalls} calls, batch ${figuresOf(warm).wallMs} ms\n`,
  );

  // 2. The planner over every target; each target message answered at once with a copy of a real result.
  const template = results.find((r) => r.includes(`"region":"${HOME}"`)) ?? (results[0] as string);
  const plannerPort = await b.configure(fleet, template);
  const planner = b.invoke(
    plannerPort,
    lambdaNodeFlags(deployment.sweepMemoryMB),
    1,
    b.sweepHandler,
    [],
    fanOutEnv(plannerPort, plannerPolicyFile),
  );
  const plannerStats = await b.fake.stats();
  const sent = (await b.fake.queue('targets')).length;
  const inv = planner.invocations[0] as InvokeRun['invocations'][number];
  const timing = plannerStats.timing;
  const firstCall = Math.min(...Object.values(timing).map((t) => t.first));
  const lastSend = timing['sqs:SendMessageBatch']?.last ?? firstCall;
  const plannerMs = lastSend - firstCall;
  const sqsBilled = sortKeys(plannerStats.sqsBilled);
  const plannerSqsBilled = Object.values(sqsBilled).reduce((x, y) => x + y, 0);
  process.stderr.write(`bench: fan-out planner: ${sent} messages, ${inv.wallMs} ms wall\n`);

  const plannerLambdaMs = lambdaEstimateMs(inv.wallMs, inv.cpuMs, deployment.sweepMemoryMB);
  const readMs = (timing['sqs:ReceiveMessage']?.last ?? lastSend) - lastSend;
  const measured: FanOutMeasured = {
    plannerTargets: sent,
    plannerMs,
    readMs,
    summaryMs: Math.max(0, plannerLambdaMs - plannerMs - readMs),
    plannerSqsBilled,
    plannerLogBytes: planner.logBytes,
    workerBatchMs: figuresOf(warm).lambdaMs,
    workerColdExtraMs: Math.max(0, lambdaOf(cold) - figuresOf(warm).lambdaMs),
    targetAloneMs: figuresOf(alone).lambdaMs,
    workerSqsBilledPerTarget: workerSqsBilled / sampleTargets,
    workerLogBytesPerTarget: Math.round(workerLogBytes / sampleTargets),
  };
  return {
    accounts: FAN_OUT_ACCOUNTS,
    regions: FOUR,
    instancesPerTarget: FAN_OUT_FLEET,
    deployment,
    worker: {
      bundle: 'esbuild of src/handlers/sweep-worker.ts with the options of scripts/bundling.cjs',
      rawKiB: Math.round(codeBytes(join(b.work, 'worker'), 'sweep-worker') / 1024),
      sampleTargets,
      invocations: workerRun.invocations,
      initMs: workerRun.initMs,
      peakRssMB: workerRun.peakRssMB,
      cold: { wallMs: cold.wallMs, cpuMs: cold.cpuMs, lambdaMs: lambdaOf(cold) },
      warmBatch: figuresOf(warm),
      alone: figuresOf(alone),
      calls: workerCalls,
      callsPerTarget: perTarget(totalWorkerCalls),
      throttled: Object.values(workerStats.throttled).reduce((x, y) => x + y, 0),
      failures: workerRun.invocations.reduce((n, i) => n + i.failures, 0),
      sqsBilledPerTarget: perTarget(workerSqsBilled),
      logBytesPerTarget: measured.workerLogBytesPerTarget,
      resultBytes: { median: median(resultBytes), max: Math.max(...resultBytes) },
    },
    planner: {
      targets: sent,
      messagesSent: sent,
      calls: sortKeys(plannerStats.calls),
      sqsBilled,
      sqsEmptyReceives: plannerStats.sqsEmptyReceives,
      throttled: Object.values(plannerStats.throttled).reduce((x, y) => x + y, 0),
      wallMs: inv.wallMs,
      cpuMs: inv.cpuMs,
      lambdaEstimateMs: plannerLambdaMs,
      plannerMs,
      readMs,
      summaryMs: measured.summaryMs,
      peakRssMB: planner.peakRssMB,
      instancesInSummary: inv.instances,
      alertsSent: inv.alertsSent,
      errors: inv.errors.length,
      logBytes: planner.logBytes,
    },
    measured,
    models: [
      fanOutModel('1,000 accounts x 4 regions', FAN_OUT_ACCOUNTS, FOUR.length, deployment, measured),
      fanOutModel('1,000 accounts x 17 regions', FAN_OUT_ACCOUNTS, 17, deployment, measured),
    ],
  };
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** What the terminal shows: the sweep runs, the profile, the cold start, the bundles. */
function summaryText(r: BenchResults): string {
  const out: string[] = [];
  out.push(
    `\nSweep (deployed sweep.zip, Node as Lambda starts ${r.lambda.memoryMB} MB; fake AWS ${r.latency.baseMs} ms a call` +
      ` + ${r.latency.perInstanceMs} ms an instance + ${r.latency.perDatapointMs} ms a datapoint; AWS rate limits)`,
  );
  out.push(`Lambda estimate = ${r.lambda.estimate}\n`);
  out.push(
    table(
      ['run', 'calls', 'throttled', 'wall ms', 'CPU ms', 'Lambda ms', 'peak RSS', 'plain node', 'errors'],
      r.sweep.map((s) => [
        s.name,
        s.totalCalls,
        Object.values(s.throttled).reduce((a, b) => a + b, 0),
        s.wallMs,
        s.cpuMs,
        s.lambdaEstimateMs,
        s.peakRssMB,
        s.peakRssPlainNodeMB ?? '-',
        s.errors.length,
      ]),
    ),
  );
  out.push(`\nCPU of the ${r.profile.run} run by area (${r.profile.totalMs} ms sampled):`);
  for (const [k, v] of Object.entries(r.profile.areas)) out.push(`  ${String(v).padStart(6)} ms  ${k}`);
  const f = r.firstInvocation;
  out.push(
    `\nFirst invocation (${f.instances} instances): ${f.firstWallMs} ms, the second ${f.secondWallMs} ms: set-up ` +
      `${f.setupWallMs} ms wall, ${f.setupCpuMs} ms CPU; module init ${f.initMs} ms`,
  );
  const c = r.coldStart;
  out.push(
    `Module init: sweep ${c.sweepInitMs} ms, bare bundle of the same SDK clients ${c.bareInitMs} ms: ${c.ratio}x (goal 1.1x)\n`,
  );
  out.push(
    table(
      ['function', 'zip KiB', 'code KiB', 'handler KiB', 'init ms', 'SDK clients'],
      r.bundles.map((b) => [
        b.function,
        b.zipKiB,
        b.rawKiB,
        b.entryKiB,
        b.initMs,
        b.sdkClients.map((x) => x.replace('@aws-sdk/client-', '')).join(' ') +
          (b.forbidden.length > 0 ? `  (SHOULD NOT CONTAIN ${b.forbidden.join(', ')})` : ''),
      ]),
    ),
  );
  return out.join('\n');
}

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (/^[\d.]+$/.test(c) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
