import type { AwsTarget } from '../aws/clients.js';
import { mapBounded } from '../aws/clients.js';
import type { CostServices } from '../aws/cost-services.js';
import type { SweepServices } from '../aws/services.js';
import type { AlertSink } from '../core/ports.js';
import { resolveTargets } from './targets.js';
import { priceKey } from '../core/prices.js';
import {
  buildDigest,
  type Digest,
  renderDigest,
  type DigestAddress,
  type DigestMonth,
  type DigestStop,
  type DigestStoppedDisks,
  type DigestVolume,
} from '../core/digest.js';
import { markDryRun } from '../core/dry-run.js';
import { describeError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { Policy } from '../core/policy.js';
import type { HourlyPrice } from '../core/prices.js';
import type { RunError } from '../core/report.js';
import { NAT_TRAFFIC_WINDOW_DAYS, type NatGatewayFact, type SnapshotFact } from '../core/stopped-costs.js';
import { monthBounds } from '../core/usage.js';

/** Inputs of a digest run. `now` is injected (the CLI's --at, the tests, the handler's clock). */
export interface DigestOptions {
  policy: Policy;
  now: Date;
  targets: AwsTarget[];
  services: CostServices;
  /** The topic has a KMS key of its own (counted in the watchdog's own cost). */
  topicKey?: boolean;
}

interface TargetFacts {
  running: Instance[];
  stops: DigestStop[];
  volumes: DigestVolume[];
  addresses: DigestAddress[];
  stoppedDisks: DigestStoppedDisks[];
  snapshots: SnapshotFact[];
  natGateways: NatGatewayFact[];
  stoppedDatabases: Instance[];
  stoppedNotebooks: Instance[];
  errors: RunError[];
}

const noFacts = (): TargetFacts => ({
  running: [],
  stops: [],
  volumes: [],
  addresses: [],
  stoppedDisks: [],
  snapshots: [],
  natGateways: [],
  stoppedDatabases: [],
  stoppedNotebooks: [],
  errors: [],
});

/** Stop-protection lookups (one call per running instance) the digest makes per account x region at most. */
export const DIGEST_STOP_PROTECTION_CHECKS = 1_000;

/**
 * Gathers what the digest shows from every target (account x region, with a concurrency bound): running
 * instances and their types, the watchdog's past stops, unattached volumes, Elastic IPs, then prices and the
 * month's counters (SSM). A failing call is reported in the digest's errors; the rest is still shown.
 */
export async function runDigest(options: DigestOptions): Promise<Digest> {
  const { policy, now, services } = options;
  const snapshotsBefore = new Date(now.getTime() - policy.digest.oldSnapshotDays * 86_400_000);
  const natWindow = natTrafficWindow(now);
  const facts = await mapBounded(options.targets, policy.concurrency, (t) =>
    gather(t, services, snapshotsBefore, natWindow),
  );
  const all = noFacts();
  for (const f of facts) {
    all.running.push(...f.running);
    all.stops.push(...f.stops);
    all.volumes.push(...f.volumes);
    all.addresses.push(...f.addresses);
    all.stoppedDisks.push(...f.stoppedDisks);
    all.snapshots.push(...f.snapshots);
    all.natGateways.push(...f.natGateways);
    all.stoppedDatabases.push(...f.stoppedDatabases);
    all.stoppedNotebooks.push(...f.stoppedNotebooks);
    all.errors.push(...f.errors);
  }

  const pairs = new Map<string, { instanceType: string; region: string }>();
  for (const x of [...all.running, ...all.stops]) pairs.set(priceKey(x.instanceType, x.region), x);
  const prices: Map<string, HourlyPrice> = await services.prices.many(pairs.values());

  let month: DigestMonth | null = null;
  try {
    month = await services.usage.monthTotals(monthBounds(now).start, now);
  } catch (err) {
    all.errors.push({
      region: '-',
      operation: 'ssm:GetParameter (month counters)',
      message: describeError(err),
    });
  }

  return buildDigest({
    now,
    policy,
    regions: [...new Set(options.targets.map((t) => t.region))],
    running: all.running,
    prices,
    stops: all.stops,
    volumes: all.volumes,
    addresses: all.addresses,
    stoppedDisks: all.stoppedDisks,
    stoppedCosts: {
      snapshots: all.snapshots,
      natGateways: all.natGateways,
      databases: all.stoppedDatabases,
      notebooks: all.stoppedNotebooks,
    },
    month,
    errors: all.errors,
    ...(options.topicKey ? { topicKey: true } : {}),
  });
}

/** The NAT gateway traffic window: the last NAT_TRAFFIC_WINDOW_DAYS days up to the last full hour before `now`. */
export function natTrafficWindow(now: Date): { from: Date; to: Date } {
  const to = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000);
  return { from: new Date(to.getTime() - NAT_TRAFFIC_WINDOW_DAYS * 86_400_000), to };
}

async function gather(
  target: AwsTarget,
  services: CostServices,
  snapshotsBefore: Date,
  natWindow: { from: Date; to: Date },
): Promise<TargetFacts> {
  const out = noFacts();
  const where = { region: target.region, ...(target.account ? { account: target.account } : {}) };
  if (target.unavailable) {
    out.errors.push({ ...where, ...target.unavailable });
    return out;
  }
  const fail = (operation: string, err: unknown) =>
    out.errors.push({ ...where, operation, message: describeError(err) });
  const ec2 = services.ec2(target);
  const costs = services.costs(target);
  await Promise.all([
    (async () => {
      try {
        out.running = await ec2.listRunning();
      } catch (err) {
        fail('ec2:DescribeInstances', err);
        return;
      }
      if (out.running.length === 0) return;
      try {
        const types = await ec2.describeTypes(out.running.map((i) => i.instanceType));
        for (const i of out.running) {
          const info = types.get(i.instanceType);
          if (info) i.typeInfo = info;
        }
      } catch (err) {
        fail('ec2:DescribeInstanceTypes', err);
      }
      // Stop-protected instances are never stopped by the watchdog: the digest names them with their $/h.
      const checked = out.running.slice(0, DIGEST_STOP_PROTECTION_CHECKS);
      if (out.running.length > checked.length) {
        fail(
          'ec2:DescribeInstanceAttribute (stop protection)',
          new Error(`checked the first ${checked.length} of ${out.running.length} running instances only`),
        );
      }
      await mapBounded(checked, 10, async (i) => {
        try {
          i.stopProtected = await ec2.isStopProtected(i.instanceId);
        } catch (err) {
          out.errors.push({
            ...where,
            instanceId: i.instanceId,
            operation: 'ec2:DescribeInstanceAttribute',
            message: describeError(err),
          });
        }
      });
    })(),
    costs.stoppedInstanceDisks().then(
      (d) => {
        out.stoppedDisks = d;
      },
      (err: unknown) => fail('ec2:DescribeInstances / DescribeVolumes (stopped instances)', err),
    ),
    costs.watchdogStops().then(
      (s) => {
        out.stops = s;
      },
      (err: unknown) => fail('ec2:DescribeInstances (stopped by the watchdog)', err),
    ),
    costs.unattachedVolumes().then(
      (v) => {
        out.volumes = v;
      },
      (err: unknown) => fail('ec2:DescribeVolumes', err),
    ),
    costs.elasticAddresses().then(
      (a) => {
        out.addresses = a;
      },
      (err: unknown) => fail('ec2:DescribeAddresses', err),
    ),
    ...gatherStoppedCosts(target, services, { snapshotsBefore, natWindow }, out, fail),
  ]);
  return out;
}

/**
 * The reads of "what stopped still costs" beyond the EC2 disks and addresses: old snapshots, NAT gateways and the
 * data they processed (CloudWatch), stopped databases and notebooks (each failure its own error, the rest still
 * read).
 */
function gatherStoppedCosts(
  target: AwsTarget,
  services: CostServices,
  { snapshotsBefore, natWindow }: { snapshotsBefore: Date; natWindow: { from: Date; to: Date } },
  out: TargetFacts,
  fail: (operation: string, err: unknown) => void,
): Promise<void>[] {
  const costs = services.costs(target);
  const stopped = services.stopped?.(target);
  return [
    costs.snapshotsBefore(snapshotsBefore).then(
      (s) => {
        out.snapshots = s;
      },
      (err: unknown) => fail('ec2:DescribeSnapshots', err),
    ),
    costs.natGateways().then(
      async (n) => {
        out.natGateways = n;
        if (n.length === 0 || !services.natTraffic) return;
        // What each processed (priced per GB): one error for the target when CloudWatch cannot be read.
        try {
          const traffic = await services.natTraffic(target).processed(
            n.map((g) => g.natGatewayId),
            natWindow.from,
            natWindow.to,
          );
          for (const g of n) {
            const t = traffic.get(g.natGatewayId);
            if (t) g.processed = t;
          }
        } catch (err) {
          const message = describeError(err);
          for (const g of n) g.processedError = message;
          fail('cloudwatch:GetMetricData (data processed by NAT gateways)', err);
        }
      },
      (err: unknown) => fail('ec2:DescribeNatGateways', err),
    ),
    ...(stopped
      ? [
          Promise.all([stopped.databases.listStopped(), stopped.clusters.listStopped()]).then(
            ([d, c]) => {
              out.stoppedDatabases = [...d, ...c];
            },
            (err: unknown) => fail('rds:DescribeDBInstances / DescribeDBClusters (stopped)', err),
          ),
          stopped.notebooks.listStopped().then(
            (n) => {
              out.stoppedNotebooks = n;
            },
            (err: unknown) => fail('sagemaker:ListNotebookInstances (stopped)', err),
          ),
        ]
      : []),
  ];
}

/** What the digest function returns and logs. */
export interface DigestSummary {
  at: string;
  running: number;
  monthEstimateUsd: number | null;
  leaksUsdPerMonth: number;
  savedLastDayUsd: number;
  sent: boolean;
  errors: Digest['errors'];
}

/** What sending the digest needs. */
export interface DigestJobDeps {
  policy: Policy;
  home: AwsTarget;
  /** Target resolution (regions, member accounts). */
  services: SweepServices;
  /** Fresh per run: prices are cached for one digest only. */
  costs: () => CostServices;
  /** Where the digest goes; absent = a read-only report (the CLI): nothing sent, nothing recorded. */
  alerts?: AlertSink;
  /** The stack's topic has a KMS key of its own (its $1 a month is in the self-cost). */
  topicKey?: boolean;
}

/**
 * The daily digest's use case: gathers the figures of every target, sends one email (text + JSON) to the admin and
 * records the dollars saved in the last day in the month ledger. With the policy's dryRun the email is marked DRY
 * RUN and nothing is written, and without `alerts` (the CLI's `digest`) it is a read-only report. A failed send or
 * write is an error
 * in the summary; the figures are still returned.
 */
export async function sendDigest(
  deps: DigestJobDeps,
  now: Date,
  regions?: string[],
): Promise<{ digest: Digest; summary: DigestSummary; nothingRead: boolean }> {
  const { policy } = deps;
  const costs = deps.costs();
  const targets = await resolveTargets(policy, deps.home, deps.services, regions);
  const digest = await runDigest({
    policy,
    now,
    targets,
    services: costs,
    ...(deps.topicKey ? { topicKey: true } : {}),
  });
  let sent = false;
  if (deps.alerts) {
    try {
      // A dry-run day still gets its digest, marked DRY RUN.
      const alert = renderDigest(digest);
      await deps.alerts.publish(policy.dryRun ? markDryRun(alert) : alert);
      sent = true;
    } catch (err) {
      digest.errors.push({ region: deps.home.region, operation: 'sns:Publish', message: describeError(err) });
    }
  }
  if (!policy.dryRun && deps.alerts) {
    try {
      await costs.usage.recordSaved(digest.savings.lastDay.usd, now);
    } catch (err) {
      digest.errors.push({
        region: deps.home.region,
        operation: 'cloudwatch:PutMetricData',
        message: describeError(err),
      });
    }
  }
  // No target's instances could be listed: the figures are all zero for want of data, not because nothing runs.
  const nothingRead =
    targets.length > 0 &&
    targets.every(
      (t) =>
        t.unavailable !== undefined ||
        digest.errors.some(
          (e) => e.operation === 'ec2:DescribeInstances' && e.region === t.region && e.account === t.account,
        ),
    );
  return {
    digest,
    nothingRead,
    summary: {
      at: digest.at,
      running: digest.running.length,
      monthEstimateUsd: digest.thisMonth?.estimated.usd ?? null,
      leaksUsdPerMonth: digest.leaks.totalUsdPerMonth.usd,
      savedLastDayUsd: digest.savings.lastDay.usd,
      sent,
      errors: digest.errors,
    },
  };
}
