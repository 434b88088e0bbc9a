/**
 * What `npm run bench` writes (bench/results.json) and the tables made from it: README.md and docs/scale.md hold
 * them between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers, rewritten by every run, and a unit test
 * (test/unit/bench-tables.test.ts) checks that the committed documents show what results.json says.
 */
import type { BundleFigures, ColdStartFigures } from './bundles.js';
import type { BucketLimit, LatencyModel } from './fake-aws.js';
import {
  type FanOutDeploymentFigures,
  type FanOutMeasured,
  type FanOutModel,
  GOAL,
  LAMBDA_PLATFORM_LOG_BYTES,
  LAMBDA_SQS_POLLERS,
  SQS_LONG_POLL_SECONDS,
} from './fan-out-model.js';
import type { WorkerInvocation } from './invoke-worker.js';

/** Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion to memory below that. */
export const VCPU_MEMORY_MB = 1_769;

/** The median of `xs`: its middle value (the upper middle one of an even count; 0 of none). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/**
 * The wall time the same invocation would take on Lambda at `memoryMB`: every CPU millisecond measured here takes
 * VCPU_MEMORY_MB / memoryMB milliseconds there, the waiting for AWS does not shrink or grow. It assumes no CPU
 * overlapped with waiting, so it is an upper estimate; max(wall, CPU x VCPU_MEMORY_MB / memoryMB) is the lower.
 */
export function lambdaEstimateMs(wallMs: number, cpuMs: number, memoryMB: number): number {
  return Math.round(wallMs + cpuMs * (VCPU_MEMORY_MB / memoryMB - 1));
}

/** One sweep run of the benchmark. */
export interface SweepFigures {
  name: string;
  scenario: 'steady' | 'first';
  regionsWithInstances: number;
  instances: number;
  randomThrottle: number;
  /** Answered calls per operation, as the fake counted them. */
  calls: Record<string, number>;
  /** Throttled attempts per operation (each one retried by the SDK, or failed after its last attempt). */
  throttled: Record<string, number>;
  serviceErrors: Record<string, number>;
  /** GetMetricData NextToken pages. */
  metricPages: number;
  totalCalls: number;
  peakCallsInFlight: number;
  responseMB: number;
  wallMs: number;
  cpuMs: number;
  lambdaEstimateMs: number;
  peakRssMB: number;
  rssAfterInitMB: number;
  peakRssPlainNodeMB?: number;
  decisions: Record<string, number>;
  warned: number;
  stopped: number;
  postponed: number;
  alertsSent: number;
  metricsApi: string[];
  errors: { operation: string; message: string }[];
}

/** The fan-out run (bench/run.ts measureFanOut) and its model. */
export interface FanOutFigures {
  accounts: number;
  regions: string[];
  /** Running instances in each account x region of the run. */
  instancesPerTarget: number;
  deployment: FanOutDeploymentFigures;
  /** The sample of real sweep-worker invocations. */
  worker: {
    bundle: string;
    rawKiB: number;
    sampleTargets: number;
    invocations: WorkerInvocation[];
    initMs: number;
    peakRssMB: number;
    /** The first invocation of the container (full batch), the median warm full batch, the median single target. */
    cold: { wallMs: number; cpuMs: number; lambdaMs: number };
    warmBatch: { wallMs: number; cpuMs: number; lambdaMs: number };
    alone: { wallMs: number; cpuMs: number; lambdaMs: number };
    /** Calls of the whole sample, as the fake answered them. */
    calls: Record<string, number>;
    callsPerTarget: number;
    throttled: number;
    failures: number;
    sqsBilledPerTarget: number;
    logBytesPerTarget: number;
    resultBytes: { median: number; max: number };
  };
  /** The deployed sweep as the planner and summary of one run over every target. */
  planner: {
    targets: number;
    /** Target messages on the targets queue after the run. */
    messagesSent: number;
    calls: Record<string, number>;
    sqsBilled: Record<string, number>;
    sqsEmptyReceives: number;
    throttled: number;
    wallMs: number;
    cpuMs: number;
    lambdaEstimateMs: number;
    /** Its first call to its last target sent. */
    plannerMs: number;
    /** Its last target sent to its last result read (all waiting). */
    readMs: number;
    /** The rest of the invocation (Lambda estimate, all its CPU): the summary, deleting the results. */
    summaryMs: number;
    peakRssMB: number;
    instancesInSummary: number;
    alertsSent: number;
    errors: number;
    logBytes: number;
  };
  measured: FanOutMeasured;
  models: FanOutModel[];
}

/** bench/results.json. */
export interface BenchResults {
  generatedAt: string;
  commit: string | null;
  /** Sources, bench or build settings differed from the commit. */
  dirty: boolean;
  node: string;
  cpus: number;
  cpuModel: string;
  /** 1-minute load average when the bench started and ended: other work on the machine inflates wall times. */
  loadAverage: { before: number; after: number };
  latency: LatencyModel;
  rateLimits: Record<string, BucketLimit>;
  lambda: { memoryMB: number; nodeFlags: string[]; vcpuShare: number; estimate: string };
  sweep: SweepFigures[];
  firstInvocation: {
    runs: number;
    instances: number;
    initMs: number;
    firstWallMs: number;
    secondWallMs: number;
    setupWallMs: number;
    firstCpuMs: number;
    secondCpuMs: number;
    setupCpuMs: number;
  };
  coldStart: ColdStartFigures;
  /** This sweep against the code of an earlier commit (bench/baseline.ts), or why that was not measured. */
  baseline: BaselineFigures;
  profile: { run: string; cpuMs: number; totalMs: number; areas: Record<string, number> };
  bundles: BundleFigures[];
  fanOut: FanOutFigures;
}

/** CPU of the same run of an earlier commit's sweep and of this one, measured in alternation in one bench. */
export type BaselineFigures =
  | {
      commit: string;
      run: string;
      beforeCpuMs: number[];
      afterCpuMs: number[];
      medianBeforeMs: number;
      medianAfterMs: number;
      /** Both made the same number of decisions of each kind. */
      decisionsAgree: boolean;
    }
  | { commit: string; missing: string };

/** One sentence on the baseline comparison, for the README and docs/scale.md. */
export function baselineSentence(r: BenchResults): string {
  const b = r.baseline;
  if ('missing' in b) return `Not compared with the code before #16: ${b.missing}.`;
  const change = Math.round((1 - b.medianAfterMs / b.medianBeforeMs) * 100);
  return (
    `CPU of the ${b.run} run against the code before #16 (commit ${b.commit.slice(0, 7)}), built as it was and run in ` +
    `alternation in the same bench (${b.beforeCpuMs.length} runs each, median): ${int(b.medianBeforeMs)} ms -> ` +
    `${int(b.medianAfterMs)} ms, ${change} % less${b.decisionsAgree ? ', the same decisions' : ', DIFFERENT decisions'}.`
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const int = (n: number) => n.toLocaleString('en-US');
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

function markdownTable(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function callsOf(s: SweepFigures) {
  const di = s.calls['ec2:DescribeInstances'] ?? 0;
  const metrics =
    (s.calls['cloudwatch:GetMetricData'] ?? 0) + (s.calls['cloudwatch:GetMetricStatistics'] ?? 0);
  return { di, metrics, other: s.totalCalls - di - metrics };
}

/** The README's table: every run, with the Lambda estimate, and the deployed zips. */
export function readmeSection(r: BenchResults): string {
  const rows = r.sweep.map((s) => {
    const c = callsOf(s);
    return [
      s.name,
      int(c.di),
      `${int(c.metrics)} (${s.metricsApi.join(', ').replace('GetMetric', '')})`,
      int(c.other),
      int(sum(s.throttled)),
      seconds(s.wallMs),
      seconds(s.cpuMs),
      seconds(s.lambdaEstimateMs),
      `${Math.round(s.peakRssMB)} MB${s.peakRssPlainNodeMB !== undefined ? ` (${Math.round(s.peakRssPlainNodeMB)} MB)` : ''}`,
    ];
  });
  const zips = r.bundles.map((b) => `${b.function} ${b.zipKiB} KiB`).join(', ');
  const c = r.coldStart;
  const f = r.firstInvocation;
  return [
    markdownTable(
      [
        'run',
        'DescribeInstances',
        'metric calls',
        'other calls',
        'throttled (retried)',
        'wall',
        'CPU',
        `Lambda ${r.lambda.memoryMB} MB (est.)`,
        'peak RSS (plain node)',
      ],
      rows,
    ),
    '',
    `Deployed zips (\`serverless package\`): ${zips}. Sweep module init ${c.sweepInitMs} ms against ` +
      `${c.bareInitMs} ms for a bundle of only its SDK clients (${c.ratio}x); its first invocation spends ` +
      `${f.setupWallMs} ms (${f.setupCpuMs} ms CPU) more than the next one (loading the policy and the sweep, ` +
      `creating clients, first calls). ${baselineSentence(r)} ` +
      `Measured with ${r.latency.baseMs} ms per call on ${r.cpus} CPUs, load ${r.loadAverage.before}-${r.loadAverage.after}.`,
  ].join('\n');
}

/** docs/scale.md's full table of runs. */
export function sweepSection(r: BenchResults): string {
  const ops = [...new Set(r.sweep.flatMap((s) => Object.keys(s.calls)))].sort();
  const short = (op: string) => op.replace(/^(ec2|cloudwatch|ssm|sns):(Describe)?/, '');
  return markdownTable(
    [
      'run',
      ...ops.map(short),
      'throttled',
      'wall ms',
      'CPU ms',
      `Lambda ${r.lambda.memoryMB} MB ms`,
      'peak RSS MB',
      'plain node MB',
      'warned',
      'postponed',
      'alerts',
      'errors',
    ],
    r.sweep.map((s) => [
      s.name,
      ...ops.map((op) => int(s.calls[op] ?? 0)),
      int(sum(s.throttled)),
      int(s.wallMs),
      int(s.cpuMs),
      int(s.lambdaEstimateMs),
      s.peakRssMB,
      s.peakRssPlainNodeMB ?? '-',
      int(s.warned),
      int(s.postponed),
      s.alertsSent,
      s.errors.length,
    ]),
  );
}

/** docs/scale.md: where the CPU of the profiled run goes. */
export function profileSection(r: BenchResults): string {
  const p = r.profile;
  return markdownTable(
    ['area', 'CPU ms', 'share'],
    Object.entries(p.areas).map(([k, v]) => [k, int(v), `${Math.round((v / p.totalMs) * 100)} %`]),
  );
}

/** docs/scale.md: the deployed zips and the cold start. */
export function bundlesSection(r: BenchResults): string {
  const c = r.coldStart;
  const f = r.firstInvocation;
  return [
    markdownTable(
      ['function', 'zip KiB', 'code KiB', 'handler file KiB', 'module init ms', 'init CPU ms', 'SDK clients'],
      r.bundles.map((b) => [
        b.function,
        b.zipKiB,
        b.rawKiB,
        b.entryKiB,
        b.initMs,
        b.initCpuMs,
        b.sdkClients.map((x) => x.replace('@aws-sdk/client-', '')).join(' '),
      ]),
    ),
    '',
    `Sweep module init ${c.sweepInitMs} ms (${c.sweepInitCpuMs} ms CPU), a bundle of only the SDK clients and ` +
      `commands it imports ${c.bareInitMs} ms (${c.bareInitCpuMs} ms CPU, ${c.bareRawKiB} KiB handler file against ` +
      `the sweep's ${c.sweepRawKiB} KiB): ${c.ratio}x, median of ${c.runs} alternating fresh processes. First ` +
      `invocation over ${f.instances} instances ${f.firstWallMs} ms (${f.firstCpuMs} ms CPU), the second in the same ` +
      `process ${f.secondWallMs} ms (${f.secondCpuMs} ms CPU): the first one's set-up (the policy, the sweep's ` +
      `chunks, clients, credentials) ${f.setupWallMs} ms (${f.setupCpuMs} ms CPU).`,
  ].join('\n');
}

const minutes = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;
const usd = (n: number) => `$${n.toFixed(2)}`;

/** The goal's verdict for one model: met, or what it is. */
export function fanOutVerdict(m: FanOutModel): string {
  const time =
    (m.meetsTime
      ? `swept in ${minutes(m.wallMs)} (goal 15 min)`
      : `MISSES the 15 minutes: ${minutes(m.wallMs)}`) +
    (m.withinSettle
      ? ''
      : ', results after the settle time (the summary names them missing, the next one late)');
  const cost = m.meetsCost
    ? `${usd(m.listUsd)} a month (goal under $20)`
    : `MISSES the $20 a month: ${usd(m.listUsd)}`;
  return `${time}, ${cost}`;
}

/** The README's line about the fan-out. */
export function readmeFanOutSection(r: BenchResults): string {
  const f = r.fanOut;
  const [four, all] = f.models as [FanOutModel, FanOutModel];
  return (
    `Fan-out (${f.accounts.toLocaleString('en-US')} accounts x ${f.regions.length} regions, ${f.deployment.concurrency} ` +
    `workers of ${f.deployment.batchSize} targets): ${fanOutVerdict(four)}, against ${minutes(four.singleInvocationMs)} in one ` +
    `invocation; x 17 regions: ${fanOutVerdict(all)}. Modeled from a measured planner run and a sample of ` +
    `${f.worker.sampleTargets} real worker targets: [docs/scale.md](docs/scale.md#fan-out-figures).`
  );
}

/** docs/scale.md: the fan-out's measured figures, its model and its monthly bill. */
export function fanOutSection(r: BenchResults): string {
  const f = r.fanOut;
  const d = f.deployment;
  const w = f.worker;
  const p = f.planner;
  const models = f.models;
  const short = (op: string) => op.replace(/^(ec2|cloudwatch|ssm|sns|sqs|sts|rds|sagemaker):(Describe)?/, '');
  const calls = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${short(k)} ${int(v)}`)
      .join(', ');
  /** A row of the worker's timings: name, targets, wall, CPU, Lambda estimate; no calls or memory of its own. */
  const workerRow = (
    name: string,
    targets: number,
    t: { wallMs: number; cpuMs: number; lambdaMs: number },
  ) => [name, targets, seconds(t.wallMs), seconds(t.cpuMs), seconds(t.lambdaMs), '-', '-'];
  return [
    `Deployed: worker concurrency ${d.concurrency} (the SQS trigger's maximumConcurrency), batch size ${d.batchSize}, ` +
      `worker ${d.workerMemoryMB} MB, sweep ${d.sweepMemoryMB} MB, single-invocation concurrency ${d.sweepConcurrency}, ` +
      `settle ${d.settleMinutes} min, schedule \`${d.schedule}\` (${int(Math.round(d.runsPerMonth))} runs a month); ` +
      `${f.instancesPerTarget} running instances in each account x region.`,
    '',
    '**Measured.**',
    '',
    markdownTable(
      ['what', 'targets', 'wall', 'CPU', `Lambda est.`, 'peak RSS', 'calls'],
      [
        [
          'planner + summary (deployed sweep.zip)',
          int(p.targets),
          seconds(p.wallMs),
          seconds(p.cpuMs),
          seconds(p.lambdaEstimateMs),
          `${Math.round(p.peakRssMB)} MB`,
          calls(p.calls),
        ],
        workerRow('worker, first invocation (cold container)', w.invocations[0]?.targets ?? 0, w.cold),
        workerRow('worker, warm full batch (median)', d.batchSize, w.warmBatch),
        workerRow('worker, one target alone (median)', 1, w.alone),
        [
          `worker sample, all ${w.invocations.length} invocations`,
          w.sampleTargets,
          seconds(w.invocations.reduce((n, i) => n + i.wallMs, 0)),
          seconds(w.invocations.reduce((n, i) => n + i.cpuMs, 0)),
          '-',
          `${Math.round(w.peakRssMB)} MB`,
          calls(w.calls),
        ],
      ],
    ),
    '',
    `Planner: ${int(p.messagesSent)} target messages sent for ${int(p.targets)} targets (${int(f.accounts)} member ` +
      `accounts and the home account x ${f.regions.length} regions); its first call to its last target sent ` +
      `${seconds(p.plannerMs)} (wall), reading the ${int(p.targets)} results (all waiting) ${seconds(p.readMs)}, the ` +
      `rest of the invocation (the summary, deleting the results; all its CPU) ${seconds(p.summaryMs)} (Lambda est.); SQS requests as billed ${calls(p.sqsBilled)} (${int(p.sqsEmptyReceives)} empty receives); ` +
      `${p.throttled} throttled; ${p.alertsSent} alerts; ${p.errors} errors; ${int(p.logBytes)} bytes logged. ` +
      `Worker: ${w.callsPerTarget} AWS calls per target (${w.throttled} throttled, ${w.failures} retried), ` +
      `${w.sqsBilledPerTarget} SQS requests per target, results of ${int(w.resultBytes.median)} bytes (largest ` +
      `${int(w.resultBytes.max)}), ${int(w.logBytesPerTarget)} bytes logged per target; code ${w.rawKiB} KiB, ` +
      `module init ${w.initMs} ms. ${w.sampleTargets} targets is a sample; the 4,000 are modeled.`,
    '',
    '**Modeled** (wall = planner + the longer of the workers and reading the results, which goes on while they run, + ' +
      'summary; workers = waves x a warm full batch + one cold start, waves = targets / (concurrency x batch size); ' +
      'planner, reading and summary scaled by the targets; one invocation = targets / its concurrency x one target ' +
      'alone).',
    '',
    markdownTable(
      ['', ...models.map((m) => m.name)],
      [
        ['targets', ...models.map((m) => int(m.targets))],
        ['worker invocations a run', ...models.map((m) => int(m.workerInvocationsPerRun))],
        ['waves', ...models.map((m) => int(m.waves))],
        ['planner', ...models.map((m) => seconds(m.plannerMs))],
        ['workers', ...models.map((m) => seconds(m.workersMs))],
        ['reading the results (during the workers)', ...models.map((m) => seconds(m.readMs))],
        ['summary', ...models.map((m) => seconds(m.summaryMs))],
        ['**fan-out wall time**', ...models.map((m) => `**${minutes(m.wallMs)}**`)],
        ['all results within settleMinutes', ...models.map((m) => (m.withinSettle ? 'yes' : 'no'))],
        [
          'one invocation today (Lambda stops at 15 min)',
          ...models.map((m) => minutes(m.singleInvocationMs)),
        ],
        ['SQS requests a month', ...models.map((m) => int(m.sqsRequestsPerMonth.total))],
        [
          'of them: planner + summary, worker results, trigger (receive + delete), idle polling, summary waiting',
          ...models.map((m) => {
            const q = m.sqsRequestsPerMonth;
            return [
              q.plannerAndSummary,
              q.workerResults,
              q.pollerWithMessages,
              q.pollerIdle,
              q.summaryWaiting,
            ]
              .map(int)
              .join(' + ');
          }),
        ],
        ['Lambda invocations a month', ...models.map((m) => int(m.lambdaInvocationsPerMonth))],
        [
          'Lambda GB-s a month (workers + waiting sweep)',
          ...models.map((m) => `${int(m.gbSecondsPerMonth.workers)} + ${int(m.gbSecondsPerMonth.sweep)}`),
        ],
        ['log ingestion a month', ...models.map((m) => `${m.logGbPerMonth} GB`)],
        ...(models[0]?.items ?? []).map((item, k) => [
          `${item.item} (list)`,
          ...models.map((m) => usd(m.items[k]?.listUsd ?? 0)),
        ]),
        ['**fan-out a month, list price**', ...models.map((m) => `**${usd(m.listUsd)}**`)],
        ['after the free tiers', ...models.map((m) => usd(m.billedUsd))],
        ['goal (15 min, under $20)', ...models.map((m) => fanOutVerdict(m))],
      ],
    ),
    '',
    `The model's targets include the home account's regions, swept by the same fan-out. ` +
      `Assumptions: Lambda's SQS trigger polls with ${LAMBDA_SQS_POLLERS} long polls of ${SQS_LONG_POLL_SECONDS} s at all ` +
      `times (counted in full even while messages flow), receives full batches and deletes each batch in one request; ` +
      `SQS bills each 64 KiB of a request as one request; Lambda logs ${LAMBDA_PLATFORM_LOG_BYTES} bytes of its own per ` +
      `invocation; the scheduled sweep's whole wait and its summary's log line (which one invocation writes too) are ` +
      `charged to the fan-out; the fake answers every call, SQS's ` +
      `too, in ${r.latency.baseMs} ms; GetMetricData, GetMetricStatistics and SNS are left out (the goal excludes ` +
      `metrics, which scale with instances; alerts are the same without the fan-out). Goal: ${GOAL.wallMs / 60_000} min, ` +
      `under $${GOAL.monthlyUsd} a month at list price.`,
  ].join('\n');
}

/** docs/scale.md: the baseline comparison, every run. */
export function baselineSection(r: BenchResults): string {
  const b = r.baseline;
  if ('missing' in b) return baselineSentence(r);
  return [
    baselineSentence(r),
    '',
    markdownTable(
      ['sweep', ...b.beforeCpuMs.map((_, k) => `run ${k + 1}`), 'median'],
      [
        [`before #16 (${b.commit.slice(0, 7)})`, ...b.beforeCpuMs.map(int), int(b.medianBeforeMs)],
        [
          `this commit (${(r.commit ?? 'unknown').slice(0, 7)})`,
          ...b.afterCpuMs.map(int),
          int(b.medianAfterMs),
        ],
      ],
    ),
  ].join('\n');
}

const SECTIONS: Record<string, (r: BenchResults) => string> = {
  readme: readmeSection,
  baseline: baselineSection,
  'readme-fan-out': readmeFanOutSection,
  sweep: sweepSection,
  profile: profileSection,
  bundles: bundlesSection,
  'fan-out': fanOutSection,
};

/** `text` with every `<!-- bench:NAME -->...<!-- /bench:NAME -->` section rewritten from `results`. */
export function renderTables(text: string, results: BenchResults): string {
  return text.replace(
    /(<!-- bench:([\w-]+) -->)[\s\S]*?(<!-- \/bench:\2 -->)/g,
    (all, open: string, name: string, close: string) => {
      const render = SECTIONS[name];
      return render ? `${open}\n${render(results)}\n${close}` : all;
    },
  );
}
