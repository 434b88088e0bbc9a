/**
 * One benchmark process: loads the deployed sweep function (the handler file of the unzipped sweep.zip) as Lambda
 * would, and invokes it `invocations` times one after another. The environment (region, the fake's endpoint,
 * credentials, topic, policy file) comes from bench/run.ts. Prints one JSON line (InvokeRun).
 * Usage: node invoke-sweep.cjs <handler file> [invocations]
 */
import { pathToFileURL } from 'node:url';

/** What one process measured. */
export interface InvokeRun {
  /** import() of the handler file: the function's module init. */
  initMs: number;
  initCpuMs: number;
  /** RSS right after the module init (Node + the bundle, before any work). */
  rssAfterInitMB: number;
  invocations: Invocation[];
  /** Peak RSS of the process over all invocations. */
  peakRssMB: number;
}

/** One invocation of the handler. */
export interface Invocation {
  wallMs: number;
  /** CPU time of the process during the invocation (user + system). */
  cpuMs: number;
  instances: number;
  decisions: Record<string, number>;
  warned: number;
  stopped: number;
  postponed: number;
  alertsSent: number;
  errors: { operation: string; message: string }[];
  /** Metrics API the sweep chose per region (GetMetricData or GetMetricStatistics). */
  metricsApi: string[];
}

interface Summary {
  instancesSeen: number;
  decisions: { action: string }[];
  warned: string[];
  stopped: string[];
  postponed: string[];
  alertsSent: number;
  errors: { operation: string; message: string }[];
  scopes: { metricsApi?: string; instances: number }[];
}

const round = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: invoke-sweep.cjs <handler file> [invocations]');
  const count = Number(process.argv[3] ?? 1);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const mod = (await import(pathToFileURL(file).href)) as { handler: (event: unknown) => Promise<Summary> };
  const initMs = performance.now() - t0;
  const initCpu = process.cpuUsage(cpu0);
  const rssAfterInit = process.memoryUsage().rss;
  const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
  const invocations: Invocation[] = [];
  for (let k = 0; k < count; k++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let summary: Summary;
    try {
      summary = await mod.handler(event);
    } catch (err) {
      // SweepIncompleteError: the work is done, the summary says what failed.
      const s = (err as { summary?: Summary }).summary;
      if (!s) throw err;
      summary = s;
    }
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const decisions: Record<string, number> = {};
    for (const d of summary.decisions) decisions[d.action] = (decisions[d.action] ?? 0) + 1;
    decisions.none = summary.instancesSeen - summary.decisions.length;
    invocations.push({
      wallMs: Math.round(wallMs),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      instances: summary.instancesSeen,
      decisions,
      warned: summary.warned.length,
      stopped: summary.stopped.length,
      postponed: summary.postponed.length,
      alertsSent: summary.alertsSent,
      errors: summary.errors.map((e) => ({ operation: e.operation, message: e.message.slice(0, 200) })),
      metricsApi: [...new Set(summary.scopes.filter((s) => s.instances > 0).map((s) => s.metricsApi ?? '-'))],
    });
  }
  const run: InvokeRun = {
    initMs: round(initMs),
    initCpuMs: Math.round((initCpu.user + initCpu.system) / 1000),
    rssAfterInitMB: round(rssAfterInit / 1048576),
    invocations,
    peakRssMB: round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`\n${JSON.stringify(run)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
