/**
 * What stopped (and forgotten) things still cost every month: the disks of stopped instances, snapshots older than
 * the policy's age, Elastic IPs not in use, NAT gateways, the storage of stopped databases and the volumes of stopped
 * notebook instances. Per resource and per owner, each figure an estimate with its basis. Report only: the watchdog
 * deletes none of them. Pure; the digest and `plan` show it.
 */
import type { Instance } from './instance.js';
import type { Policy } from './policy.js';
import { cleanLine } from './text.js';
import {
  BUNDLED_PRICES_AS_OF,
  BYTES_PER_GB,
  DAYS_PER_MONTH,
  EBS_USD_PER_GB_MONTH,
  ebsMonthlyUsd,
  HOURS_PER_MONTH,
  NAT_GATEWAY_USD_PER_GB,
  NAT_GATEWAY_USD_PER_HOUR,
  PUBLIC_IPV4_USD_PER_HOUR,
  RDS_STORAGE_USD_PER_GB_MONTH,
  round2,
  SAGEMAKER_STORAGE_USD_PER_GB_MONTH,
  SNAPSHOT_USD_PER_GB_MONTH,
} from './prices.js';

/** An EBS snapshot of this account (see src/aws/ec2-costs.ts). */
export interface SnapshotFact {
  snapshotId: string;
  region: string;
  sizeGb: number;
  startTime: string;
  tags: Record<string, string>;
}

/**
 * What CloudWatch returned for the data one NAT gateway processed from `from` to `to` (the Sum of
 * BytesInFromSource + BytesInFromDestination, see src/aws/nat-traffic.ts).
 */
export interface NatTrafficFact {
  from: string;
  to: string;
  bytes: number;
  /** Datapoints CloudWatch returned (0 = none: nothing is extrapolated from them). */
  datapoints: number;
  firstDatapointAt?: string;
}

/** The days of NAT gateway traffic the digest reads from CloudWatch (ending at the last full hour). */
export const NAT_TRAFFIC_WINDOW_DAYS = 7;

/** A NAT gateway that exists (state available or pending). */
export interface NatGatewayFact {
  natGatewayId: string;
  region: string;
  tags: Record<string, string>;
  /** When it was created (DescribeNatGateways): a gateway younger than the window is measured since then. */
  createTime?: string;
  /** The data it processed; absent = not measured. */
  processed?: NatTrafficFact;
  /** Why the data it processed could not be read (CloudWatch failed). */
  processedError?: string;
}

/** A stopped instance and its EBS volumes. */
export interface StoppedDisksFact {
  instanceId: string;
  region: string;
  tags: Record<string, string>;
  volumes: { sizeGb: number; volumeType: string }[];
}

/** An Elastic IP. */
export interface AddressFact {
  publicIp: string;
  region: string;
  associated: boolean;
  instanceId?: string;
}

/** Everything "what stopped still costs" is built from; absent lists were not read. */
export interface StoppedCostInput {
  now: Date;
  policy: Policy;
  stoppedDisks?: StoppedDisksFact[];
  addresses?: AddressFact[];
  /** Ids of running EC2 instances (an Elastic IP on anything else is idle). */
  runningIds?: ReadonlySet<string>;
  snapshots?: SnapshotFact[];
  natGateways?: NatGatewayFact[];
  /** Stopped RDS DB instances and clusters (storageGb / storageType / multiAz / engine as the adapters read them). */
  databases?: Instance[];
  /** Stopped SageMaker notebook instances (storageGb = their ML storage volume). */
  notebooks?: Instance[];
}

/** The kinds of thing that still costs while stopped or unused. */
export type StoppedCostWhat =
  | 'stopped-instance-disks'
  | 'old-snapshot'
  | 'idle-elastic-ip'
  | 'nat-gateway'
  | 'stopped-database'
  | 'stopped-notebook';

/** Headings of each kind, as the digest and plan print them. */
export const STOPPED_COST_LABELS: Readonly<Record<StoppedCostWhat, string>> = {
  'stopped-instance-disks': 'EBS volumes of stopped instances',
  'old-snapshot': 'EBS snapshots older than the policy age',
  'idle-elastic-ip': 'Elastic IPs not in use',
  'nat-gateway': 'NAT gateways',
  'stopped-database': 'storage of stopped RDS databases',
  'stopped-notebook': 'volumes of stopped SageMaker notebooks',
};

/** One thing that costs money every month while nothing uses it. */
export interface StoppedCostItem {
  what: StoppedCostWhat;
  id: string;
  region: string;
  owner?: string;
  /** Size and kind, e.g. "20 GB gp2, Multi-AZ". */
  detail: string;
  /** USD a month, estimated; null = no price (never $0). */
  usdPerMonth: number | null;
}

/** The whole picture. */
export interface StoppedCosts {
  items: StoppedCostItem[];
  byOwner: { owner: string; usdPerMonth: number; count: number }[];
  byWhat: { what: StoppedCostWhat; usdPerMonth: number; count: number }[];
  totalUsdPerMonth: number;
  /** Items without a price, left out of the totals. */
  unpriced: number;
  /** What each figure is based on. */
  basis: string[];
}

const OWNERLESS = '(no owner tag)';

/** Builds the per-resource and per-owner monthly figures. */
export function whatStoppedCosts(input: StoppedCostInput): StoppedCosts {
  const { policy } = input;
  const ownerOf = (tags: Record<string, string>) => {
    const o = tags[policy.tags.owner]?.trim();
    return o ? { owner: o } : {};
  };
  const items: StoppedCostItem[] = [];
  for (const d of input.stoppedDisks ?? []) {
    const gb = d.volumes.reduce((s, v) => s + v.sizeGb, 0);
    items.push({
      what: 'stopped-instance-disks',
      id: d.instanceId,
      region: d.region,
      ...ownerOf(d.tags),
      detail: `${gb} GB in ${d.volumes.length} volume(s)`,
      usdPerMonth: round2(d.volumes.reduce((s, v) => s + ebsMonthlyUsd(v.volumeType, v.sizeGb).usd, 0)),
    });
  }
  const cutoff = input.now.getTime() - policy.digest.oldSnapshotDays * 86_400_000;
  for (const s of input.snapshots ?? []) {
    const started = Date.parse(s.startTime);
    if (!Number.isFinite(started) || started > cutoff) continue;
    const days = Math.floor((input.now.getTime() - started) / 86_400_000);
    items.push({
      what: 'old-snapshot',
      id: s.snapshotId,
      region: s.region,
      ...ownerOf(s.tags),
      detail: `${s.sizeGb} GB volume, ${days} days old`,
      usdPerMonth: round2(s.sizeGb * SNAPSHOT_USD_PER_GB_MONTH),
    });
  }
  const running = input.runningIds ?? new Set<string>();
  for (const a of input.addresses ?? []) {
    if (a.associated && (a.instanceId === undefined || running.has(a.instanceId))) continue;
    items.push({
      what: 'idle-elastic-ip',
      id: a.publicIp,
      region: a.region,
      detail: a.associated ? `attached to ${a.instanceId}, which is not running` : 'not attached',
      usdPerMonth: round2(PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH),
    });
  }
  for (const n of input.natGateways ?? []) {
    const data = natDataProcessed(n);
    items.push({
      what: 'nat-gateway',
      id: n.natGatewayId,
      region: n.region,
      ...ownerOf(n.tags),
      detail: `$${NAT_GATEWAY_USD_PER_HOUR}/h${data.detail}`,
      usdPerMonth: round2(NAT_GATEWAY_USD_PER_HOUR * HOURS_PER_MONTH + data.usdPerMonth),
    });
  }
  for (const d of input.databases ?? []) {
    const aurora = d.engine?.startsWith('aurora') === true;
    const rate = d.storageType ? RDS_STORAGE_USD_PER_GB_MONTH[d.storageType] : undefined;
    const copies = d.multiAz ? 2 : 1;
    const priced = !aurora && d.storageGb !== undefined && rate !== undefined;
    items.push({
      what: 'stopped-database',
      id: d.instanceId,
      region: d.region,
      ...ownerOf(d.tags),
      detail: aurora
        ? 'Aurora: storage billed per GB used, not measured here'
        : `${d.storageGb ?? '?'} GB ${d.storageType ?? '?'}${d.multiAz ? ', Multi-AZ' : ''}`,
      usdPerMonth: priced ? round2((d.storageGb ?? 0) * (rate ?? 0) * copies) : null,
    });
  }
  for (const n of input.notebooks ?? []) {
    items.push({
      what: 'stopped-notebook',
      id: n.instanceId,
      region: n.region,
      ...ownerOf(n.tags),
      detail: `${n.storageGb ?? '?'} GB ML storage`,
      usdPerMonth:
        n.storageGb === undefined ? null : round2(n.storageGb * SAGEMAKER_STORAGE_USD_PER_GB_MONTH),
    });
  }
  items.sort((a, b) => (b.usdPerMonth ?? 0) - (a.usdPerMonth ?? 0) || a.id.localeCompare(b.id));

  const owners = new Map<string, { usdPerMonth: number; count: number }>();
  const whats = new Map<StoppedCostWhat, { usdPerMonth: number; count: number }>();
  for (const i of items) {
    const o = owners.get(i.owner ?? OWNERLESS) ?? { usdPerMonth: 0, count: 0 };
    const w = whats.get(i.what) ?? { usdPerMonth: 0, count: 0 };
    for (const sum of [o, w]) {
      sum.usdPerMonth += i.usdPerMonth ?? 0;
      sum.count++;
    }
    owners.set(i.owner ?? OWNERLESS, o);
    whats.set(i.what, w);
  }
  return {
    items,
    byOwner: [...owners]
      .map(([owner, v]) => ({ owner, usdPerMonth: round2(v.usdPerMonth), count: v.count }))
      .sort((a, b) => b.usdPerMonth - a.usdPerMonth || a.owner.localeCompare(b.owner)),
    byWhat: (Object.keys(STOPPED_COST_LABELS) as StoppedCostWhat[])
      .filter((w) => whats.has(w))
      .map((what) => ({
        what,
        usdPerMonth: round2(whats.get(what)?.usdPerMonth ?? 0),
        count: whats.get(what)?.count ?? 0,
      })),
    totalUsdPerMonth: round2(items.reduce((s, i) => s + (i.usdPerMonth ?? 0), 0)),
    unpriced: items.filter((i) => i.usdPerMonth === null).length,
    basis: [
      `us-east-1 list prices bundled with cost-watchdog (as of ${BUNDLED_PRICES_AS_OF}); other regions cost up to ~30% more`,
      `EBS $${EBS_USD_PER_GB_MONTH.gp3}-${EBS_USD_PER_GB_MONTH.io1}/GB-month by volume type; snapshots $${SNAPSHOT_USD_PER_GB_MONTH}/GB-month of the source volume's size (an upper bound: snapshots are incremental)`,
      `NAT gateway $${NAT_GATEWAY_USD_PER_HOUR}/h x ${HOURS_PER_MONTH} h, plus $${NAT_GATEWAY_USD_PER_GB}/GB processed: CloudWatch BytesInFromSource + BytesInFromDestination (GB = 2^30 bytes) over the last days measured (the window, or since the gateway was created), per day x ${DAYS_PER_MONTH}; where CloudWatch could not be read, the hourly price only`,
      `RDS storage $${RDS_STORAGE_USD_PER_GB_MONTH.gp2}-${RDS_STORAGE_USD_PER_GB_MONTH.io1}/GB-month (x2 Multi-AZ; provisioned IOPS and backups not included); SageMaker ML storage $${SAGEMAKER_STORAGE_USD_PER_GB_MONTH}/GB-month`,
      'report only: cost-watchdog deletes none of these',
    ],
  };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** "7 days" / "2.5 days" / "5 hours": a measured span, said plainly. */
function span(ms: number): string {
  if (ms < DAY_MS) {
    const h = Math.max(1, Math.round(ms / HOUR_MS));
    return `${h} hour${h === 1 ? '' : 's'}`;
  }
  const d = Math.round((ms / DAY_MS) * 10) / 10;
  return `${Number.isInteger(d) ? d.toFixed(0) : d.toFixed(1)} days`;
}

const gbText = (gb: number) => `${gb.toFixed(gb > 0 && gb < 1 ? 2 : 1)} GB`;

/**
 * The data a NAT gateway processed, as a monthly estimate: GB over the days measured, per day x DAYS_PER_MONTH
 * x the price per GB. The days measured are the window, or since the gateway was created when it is younger
 * (without a creation time: since CloudWatch's first datapoint). Nothing measured = nothing extrapolated.
 */
function natDataProcessed(n: NatGatewayFact): { detail: string; usdPerMonth: number } {
  if (n.processedError !== undefined)
    return { detail: `; data processed not measured (${cleanLine(n.processedError, 60)})`, usdPerMonth: 0 };
  const p = n.processed;
  if (!p) return { detail: '; data processed not measured', usdPerMonth: 0 };
  const from = Date.parse(p.from);
  const to = Date.parse(p.to);
  const created = n.createTime === undefined ? Number.NaN : Date.parse(n.createTime);
  const first = p.firstDatapointAt === undefined ? Number.NaN : Date.parse(p.firstDatapointAt);
  const since = Number.isFinite(created)
    ? created
    : p.datapoints > 0 && Number.isFinite(first)
      ? first
      : from;
  const start = Math.max(from, since);
  const measuredMs = to - start;
  if (!Number.isFinite(measuredMs) || measuredMs <= 0)
    return { detail: '; data processed not measured yet (created after the window)', usdPerMonth: 0 };
  const when =
    start > from
      ? `in the ${span(measuredMs)} since ${Number.isFinite(created) ? 'it was created' : 'its first datapoint'}`
      : `in the last ${span(measuredMs)}`;
  if (p.datapoints === 0)
    return { detail: `; no data processed ${when} (CloudWatch returned no datapoints)`, usdPerMonth: 0 };
  const gb = p.bytes / BYTES_PER_GB;
  const usd = (gb / (measuredMs / DAY_MS)) * DAYS_PER_MONTH * NAT_GATEWAY_USD_PER_GB;
  return {
    detail: ` + ${gbText(gb)} processed ${when} (~$${usd.toFixed(2)}/month at $${NAT_GATEWAY_USD_PER_GB}/GB)`,
    usdPerMonth: usd,
  };
}

/** A short plain-text section (plan): totals per kind and per owner. */
export function renderStoppedCostsSummary(c: StoppedCosts): string {
  const lines = [
    `What stopped or unused resources still cost (estimates): about $${c.totalUsdPerMonth.toFixed(2)}/month${
      c.unpriced > 0 ? ` (${c.unpriced} without a price not included)` : ''
    }`,
  ];
  if (c.items.length === 0) return `${lines[0]}: nothing found.`;
  for (const w of c.byWhat)
    lines.push(`  ${STOPPED_COST_LABELS[w.what]} (${w.count}): $${w.usdPerMonth.toFixed(2)}/month`);
  lines.push(
    `  per owner: ${c.byOwner.map((o) => `${o.owner} $${o.usdPerMonth.toFixed(2)}`).join(', ')}`,
    `  (${c.basis[0]}; the digest lists each resource)`,
  );
  return lines.join('\n');
}
