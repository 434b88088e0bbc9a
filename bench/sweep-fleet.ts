/**
 * One benchmark run in a fresh process: the real resolveTargets + runSweep, with the real Ec2Adapter and
 * MetricsAdapter over real SDK clients whose transport is bench/fake-aws.ts. Prints one JSON line.
 * Usage (bundled by bench/run.ts): node sweep-fleet.cjs <instances> <latencyMs> [steady|first] [regions]
 * With several regions the instances are split evenly between them and the regions are swept at once (the
 * policy's default concurrency, 4).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { clientConfig } from '../src/aws/clients.js';
import { MetricsAdapter } from '../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../src/aws/ec2.js';
import type { SweepServices } from '../src/aws/services.js';
import { policySchema } from '../src/core/policy.js';
import { runSweep } from '../src/jobs/sweep.js';
import { resolveTargets } from '../src/jobs/targets.js';
import { FakeAwsTransport } from './fake-aws.js';

const REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-central-1'];

/** What one run measured. */
export interface SweepRun {
  /** first: the idle instances are new (warnings written); steady: they are already warned. */
  scenario: 'first' | 'steady';
  /** Regions the instances are spread over, swept in parallel. */
  regions: number;
  instances: number;
  calls: Record<string, number>;
  totalCalls: number;
  wallMs: number;
  /** CPU time of the process during the sweep (user + system): unlike wall time, not inflated by other load. */
  cpuMs: number;
  peakRssMB: number;
  rssBeforeMB: number;
  responseMB: number;
  decisions: Record<string, number>;
  errors: number;
}

async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? 100);
  const latencyMs = Number(process.argv[3] ?? 50);
  const scenario = process.argv[4] === 'first' ? 'first' : 'steady';
  const regions = REGIONS.slice(0, Math.max(1, Number(process.argv[5] ?? 1)));
  const now = new Date('2026-11-25T14:00:00Z');
  const policy = policySchema.parse({ regions });
  const transport = new FakeAwsTransport(
    {
      // The fake answers every region with the same fleet.
      size: Math.ceil(size / regions.length),
      launchTime: new Date(now.getTime() - 5 * 3_600_000).toISOString(),
      firstPointMs: now.getTime() - policy.idle.windowHours * 3_600_000,
      points: policy.idle.windowHours * 12,
      // steady: the hourly run after the first, idle instances warned 10 minutes ago (grace not over yet).
      ...(scenario === 'steady' ? { idleWarnedAt: new Date(now.getTime() - 10 * 60_000).toISOString() } : {}),
    },
    latencyMs,
  );
  const home = {
    region: 'us-east-1',
    endpoint: 'https://bench.invalid',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  };
  const ec2 = new Map<string, Ec2Adapter>();
  const cw = new Map<string, MetricsAdapter>();
  const services: SweepServices = {
    ec2: (t) => {
      const a =
        ec2.get(t.region) ??
        new Ec2Adapter(new EC2Client({ ...clientConfig(t), requestHandler: transport }), t.region);
      ec2.set(t.region, a);
      return a;
    },
    metrics: (t) => {
      const a =
        cw.get(t.region) ??
        new MetricsAdapter(new CloudWatchClient({ ...clientConfig(t), requestHandler: transport }));
      cw.set(t.region, a);
      return a;
    },
  };

  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const targets = await resolveTargets(policy, home, services);
  const report = await runSweep({ policy, now, targets, services });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);

  const decisions: Record<string, number> = {};
  for (const d of report.decisions) decisions[d.action] = (decisions[d.action] ?? 0) + 1;
  const calls = Object.fromEntries([...transport.calls].sort(([a], [b]) => a.localeCompare(b)));
  const run: SweepRun = {
    scenario,
    regions: regions.length,
    instances: report.instancesSeen,
    calls,
    totalCalls: Object.values(calls).reduce((a, b) => a + b, 0),
    wallMs: Math.round(wallMs),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakRssMB: round(process.resourceUsage().maxRSS / 1024),
    rssBeforeMB: round(rssBefore / 1048576),
    responseMB: round(transport.responseBytes / 1048576),
    decisions,
    errors: report.errors.length,
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

const round = (x: number) => Math.round(x * 10) / 10;

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
