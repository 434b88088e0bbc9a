/**
 * What `npm run bench` writes (bench/results.json) and the tables made from it: README.md and docs/scale.md hold
 * them between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers, rewritten by every run, and a unit test
 * (test/unit/bench-tables.test.ts) checks that the committed documents show what results.json says.
 */
import type { BundleFigures, ColdStartFigures } from './bundles.js';
import type { BucketLimit, LatencyModel } from './fake-aws.js';

/** Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion to memory below that. */
export const VCPU_MEMORY_MB = 1_769;

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
  profile: { run: string; cpuMs: number; totalMs: number; areas: Record<string, number> };
  bundles: BundleFigures[];
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
      `creating clients, first calls). ` +
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
      ['function', 'zip KiB', 'handler KiB', 'module init ms', 'init CPU ms', 'SDK clients'],
      r.bundles.map((b) => [
        b.function,
        b.zipKiB,
        b.rawKiB,
        b.initMs,
        b.initCpuMs,
        b.sdkClients.map((x) => x.replace('@aws-sdk/client-', '')).join(' '),
      ]),
    ),
    '',
    `Sweep module init ${c.sweepInitMs} ms (${c.sweepInitCpuMs} ms CPU), a bundle of only the SDK clients and ` +
      `commands it imports ${c.bareInitMs} ms (${c.bareInitCpuMs} ms CPU, ${c.bareRawKiB} KiB): ${c.ratio}x, median ` +
      `of ${c.runs} alternating fresh processes. First invocation over ${f.instances} instances ${f.firstWallMs} ms ` +
      `(${f.firstCpuMs} ms CPU), the second in the same process ${f.secondWallMs} ms (${f.secondCpuMs} ms CPU).`,
  ].join('\n');
}

const SECTIONS: Record<string, (r: BenchResults) => string> = {
  readme: readmeSection,
  sweep: sweepSection,
  profile: profileSection,
  bundles: bundlesSection,
};

/** `text` with every `<!-- bench:NAME -->...<!-- /bench:NAME -->` section rewritten from `results`. */
export function renderTables(text: string, results: BenchResults): string {
  return text.replace(
    /(<!-- bench:(\w+) -->)[\s\S]*?(<!-- \/bench:\2 -->)/g,
    (all, open: string, name: string, close: string) => {
      const render = SECTIONS[name];
      return render ? `${open}\n${render(results)}\n${close}` : all;
    },
  );
}
