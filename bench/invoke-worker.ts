/**
 * One benchmark process for the fan-out's sweep-worker: loads the bundled sweep-worker handler file as Lambda would
 * and invokes it once per SQS event of the events file, one after another (one warm container). What the handler
 * logs (stdout and stderr, which Lambda sends to CloudWatch Logs) is counted, not shown. The environment (region, the
 * fake's endpoint, queue URLs, policy file) comes from bench/run.ts. Prints one JSON line (WorkerRun).
 * Usage: node invoke-worker.cjs <handler file> <events.json>
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** What one worker process measured. */
export interface WorkerRun {
  initMs: number;
  rssAfterInitMB: number;
  invocations: WorkerInvocation[];
  peakRssMB: number;
}

/** One invocation of the worker: one SQS batch. */
export interface WorkerInvocation {
  targets: number;
  wallMs: number;
  cpuMs: number;
  /** Messages the handler gave back for another attempt (batchItemFailures). */
  failures: number;
  /** Bytes the handler logged (the result of every target is in its log line). */
  logBytes: number;
}

const round = (x: number) => Math.round(x * 10) / 10;
let restore = () => {};

async function main(): Promise<void> {
  const [file, eventsFile] = process.argv.slice(2);
  if (!file || !eventsFile) throw new Error('usage: invoke-worker.cjs <handler file> <events.json>');
  const events = JSON.parse(readFileSync(eventsFile, 'utf8')) as { Records: unknown[] }[];
  let logBytes = 0;
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const count = (chunk: unknown) => {
    logBytes += Buffer.byteLength(typeof chunk === 'string' ? chunk : String(chunk));
    if (process.env.BENCH_WORKER_LOG === '1') err(chunk as string);
    return true;
  };
  restore = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
  process.stdout.write = count as typeof process.stdout.write;
  process.stderr.write = count as typeof process.stderr.write;
  const t0 = performance.now();
  const mod = (await import(pathToFileURL(file).href)) as {
    handler: (event: unknown) => Promise<{ batchItemFailures: unknown[] }>;
  };
  const initMs = performance.now() - t0;
  const rssAfterInit = process.memoryUsage().rss;
  const invocations: WorkerInvocation[] = [];
  for (const event of events) {
    logBytes = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const res = await mod.handler(event);
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    invocations.push({
      targets: event.Records.length,
      wallMs: Math.round(wallMs),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      failures: res.batchItemFailures.length,
      logBytes,
    });
  }
  const run: WorkerRun = {
    initMs: round(initMs),
    rssAfterInitMB: round(rssAfterInit / 1048576),
    invocations,
    peakRssMB: round(process.resourceUsage().maxRSS / 1024),
  };
  out(`\n${JSON.stringify(run)}\n`);
}

main().catch((err: unknown) => {
  restore();
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
