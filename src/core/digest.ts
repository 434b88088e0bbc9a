/**
 * The daily digest: what runs now and what it costs per hour, this month's hours and dollars per owner,
 * free-tier hours against the allowance, warnings and stops of the last day, dollars saved by stops, cost
 * leaks, and what the watchdog itself costs. Built from plain data (pure), rendered as an aligned plain-text
 * email plus the same data as JSON. Every dollar figure is an estimate and names its source.
 */
import type { Instance } from './instance.js';
import type { Policy } from './policy.js';
import { TAGS } from './policy.js';
import {
  BUNDLED_PRICES_AS_OF,
  costOf,
  ebsMonthlyUsd,
  HOURS_PER_MONTH,
  type HourlyPrice,
  PUBLIC_IPV4_USD_PER_HOUR,
  type PriceSource,
  round2,
  sourceLabel,
} from './prices.js';
import { formatLocalTime, localDate, localizeTimes } from './local-time.js';
import { describeWindow } from './quiet-hours.js';
import { errorLine, renderTable } from './render.js';
import { quietHoursSchedules } from './quiet-schedules.js';
import { runsPerMonth, type SelfCostItem, selfCostFor } from './self-cost.js';
import {
  type NatGatewayFact,
  type SnapshotFact,
  STOPPED_COST_LABELS,
  type StoppedCosts,
  whatStoppedCosts,
} from './stopped-costs.js';
import type { Alert, RunError } from './report.js';
import {
  type BudgetStatus,
  budgetStatus,
  type FreeTierStatus,
  freeTierStatus,
  monthBounds,
  projectToMonthEnd,
} from './usage.js';

const DAY_MS = 86_400_000;

/** A volume attached to nothing (see src/aws/ec2-costs.ts). */
export interface DigestVolume {
  volumeId: string;
  region: string;
  sizeGb: number;
  volumeType: string;
  name?: string;
}

/** An Elastic IP (see src/aws/ec2-costs.ts). */
export interface DigestAddress {
  publicIp: string;
  region: string;
  associated: boolean;
  allocationId?: string;
  instanceId?: string;
}

/** An instance carrying the watchdog's stopped-at tag (see src/aws/ec2-costs.ts). */
export interface DigestStop {
  instanceId: string;
  region: string;
  instanceType: string;
  state: string;
  stoppedAt: string;
  stopReason?: string;
  launchTime?: string;
  tags: Record<string, string>;
}

/** A stopped instance and its EBS volumes (see src/aws/ec2-costs.ts): still billed for its disks. */
export interface DigestStoppedDisks {
  instanceId: string;
  region: string;
  instanceType: string;
  tags: Record<string, string>;
  volumes: { volumeId: string; sizeGb: number; volumeType: string }[];
}

/** Month-to-date sums from the watchdog's month counters (see src/aws/usage-store.ts). */
export interface DigestMonth {
  freeTierHours: number;
  instanceHours: number;
  estimatedCostUsd: number;
  stops: number;
  dollarsSaved: number;
  byOwner: Record<string, { hours: number; usd: number }>;
  /** Instance-hours without a price (counted in instanceHours, left out of estimatedCostUsd). */
  unpricedHours?: number;
}

/** Everything the digest is built from. */
export interface DigestInput {
  now: Date;
  policy: Policy;
  regions: string[];
  running: Instance[];
  /** Prices keyed `region/type`. */
  prices: ReadonlyMap<string, HourlyPrice>;
  stops: DigestStop[];
  volumes: DigestVolume[];
  addresses: DigestAddress[];
  /** Stopped instances and their volumes. */
  stoppedDisks: DigestStoppedDisks[];
  /** Old snapshots, NAT gateways, stopped databases and notebooks (what they still cost); absent = not read. */
  stoppedCosts?: {
    snapshots: SnapshotFact[];
    natGateways: NatGatewayFact[];
    databases: Instance[];
    notebooks: Instance[];
  };
  /** The stack encrypts its topic with a KMS key of its own (--param topicKey=true): $1 a month. */
  topicKey?: boolean;
  /** null when the metrics could not be read. */
  month: DigestMonth | null;
  errors: RunError[];
}

/** A dollar figure with its source. */
export interface Figure {
  usd: number;
  source: PriceSource | 'cloudwatch-metrics';
  estimate: true;
  /** How many items (instances, stops) have no price and are left out of `usd` (an unknown price is never $0). */
  unpriced?: number;
}

/** The digest's data: what the email shows, as JSON. */
export interface Digest {
  kind: 'cost-watchdog/digest';
  at: string;
  /** The policy's time zone: the email shows every time in it (the JSON keeps ISO times). */
  timeZone?: string;
  month: string;
  running: {
    instanceId: string;
    region: string;
    instanceType: string;
    name?: string;
    owner?: string;
    uptimeHours: number;
    usdPerHour: number | null;
    priceSource: PriceSource;
    freeTierEligible?: boolean;
    publicIp?: string;
  }[];
  runningUsdPerHour: Figure;
  /** Running instances with stop protection on: the watchdog never stops them; what they cost per hour. */
  stopProtected: {
    instanceId: string;
    region: string;
    instanceType: string;
    name?: string;
    owner?: string;
    usdPerHour: number | null;
    priceSource: PriceSource;
  }[];
  thisMonth: {
    instanceHours: number;
    estimated: Figure;
    projected: Figure;
    byOwner: { owner: string; hours: number; usd: number }[];
    /** Instance-hours without a price, left out of the dollars. */
    unpricedInstanceHours?: number;
  } | null;
  freeTier: FreeTierStatus | null;
  budget: (BudgetStatus & { action: 'notify' | 'stop' }) | null;
  lastDay: {
    warnings: { instanceId: string; region: string; warnedAt: string; rule: string; owner?: string }[];
    stops: { instanceId: string; region: string; stoppedAt: string; reason: string; owner?: string }[];
  };
  /**
   * What quiet hours stopped (stop record stop-rule quiet-hours) and what that saved; null when the policy has no
   * quiet hours and nothing carries such a record.
   */
  quietHours: {
    /** The policy's windows as people read them. */
    windows: string[];
    /** Stopped by quiet hours in the last 24 hours. */
    stopsLastDay: { instanceId: string; region: string; stoppedAt: string; owner?: string }[];
    /** Started again by the morning start in the last 24 hours. */
    startedLastDay: { instanceId: string; region: string; startedAt: string; owner?: string }[];
    /** Compute not paid for because quiet hours stopped them (the same sums as `savings`, for these stops only). */
    saved: Pick<Digest['savings'], 'lastDay' | 'sinceStops'>;
  } | null;
  savings: {
    lastDay: Figure;
    sinceStops: Figure;
    items: {
      instanceId: string;
      region: string;
      instanceType: string;
      stoppedAt: string;
      until: string;
      restarted: boolean;
      hoursNotRun: number;
      usdPerHour: number | null;
      savedUsd: number | null;
      priceSource: PriceSource;
    }[];
  };
  leaks: {
    volumes: (DigestVolume & { usdPerMonth: number })[];
    elasticIps: (DigestAddress & { usdPerMonth: number; why: string })[];
    publicIpv4: { count: number; usdPerHour: number; usdPerMonth: number };
    /** Stopped instances: the EBS volumes they still pay for, per instance, with the owner. */
    stoppedInstances: {
      instanceId: string;
      region: string;
      instanceType: string;
      name?: string;
      owner?: string;
      sizeGb: number;
      usdPerMonth: number;
    }[];
    /**
     * What stopped or unused resources still cost, per resource and per owner: the stopped instances' disks and idle
     * Elastic IPs above, and old snapshots, NAT gateways, stopped databases and notebooks (src/core/stopped-costs.ts).
     */
    stopped: StoppedCosts;
    totalUsdPerMonth: Figure;
  };
  /** What the stack itself costs a month (src/core/self-cost.ts): after the free tiers, at list price, by item. */
  watchdog: {
    usdPerMonth: number;
    listUsdPerMonth: number;
    metricsApi: string;
    items: SelfCostItem[];
    assumptions: string;
  };
  sources: Record<string, string>;
  errors: RunError[];
}

/** Builds the digest's data at `input.now`. */
export function buildDigest(input: DigestInput): Digest {
  const { now, policy } = input;
  const nowMs = now.getTime();
  const priceOf = (type: string, region: string) => input.prices.get(`${region}/${type}`);
  const fallbackPrice = (type: string, region: string): HourlyPrice =>
    priceOf(type, region) ?? {
      instanceType: type,
      region,
      usdPerHour: null,
      source: 'bundled-table',
      estimate: true,
    };

  const running = input.running
    .map((i) => {
      const p = fallbackPrice(i.instanceType, i.region);
      const launch = Date.parse(i.launchTime);
      const owner = i.tags[policy.tags.owner];
      return {
        instanceId: i.instanceId,
        region: i.region,
        instanceType: i.instanceType,
        ...(i.tags.Name !== undefined ? { name: i.tags.Name } : {}),
        ...(owner !== undefined ? { owner } : {}),
        uptimeHours: Number.isFinite(launch) ? round1(Math.max(0, nowMs - launch) / 3_600_000) : 0,
        usdPerHour: p.usdPerHour,
        priceSource: p.source,
        ...(i.typeInfo?.freeTierEligible !== undefined
          ? { freeTierEligible: i.typeInfo.freeTierEligible }
          : {}),
        ...(i.publicIp ? { publicIp: i.publicIp } : {}),
      };
    })
    .sort((a, b) => (b.usdPerHour ?? 0) - (a.usdPerHour ?? 0) || a.instanceId.localeCompare(b.instanceId));
  const runningUsd = running.reduce((s, r) => s + (r.usdPerHour ?? 0), 0);
  const runningUnpriced = running.filter((r) => r.usdPerHour === null).length;
  const protectedIds = new Set(
    input.running.filter((i) => i.stopProtected === true).map((i) => i.instanceId),
  );
  const stopProtected = running
    .filter((r) => protectedIds.has(r.instanceId))
    .map(({ instanceId, region, instanceType, name, owner, usdPerHour, priceSource }) => ({
      instanceId,
      region,
      instanceType,
      ...(name !== undefined ? { name } : {}),
      ...(owner !== undefined ? { owner } : {}),
      usdPerHour,
      priceSource,
    }));
  const runningSource = worstSource(running.map((r) => r.priceSource));

  const month = input.month;
  const thisMonth = month
    ? {
        instanceHours: round1(month.instanceHours),
        estimated: metricFigure(month.estimatedCostUsd),
        projected: metricFigure(projectToMonthEnd(month.estimatedCostUsd, now)),
        byOwner: Object.entries(month.byOwner)
          .map(([owner, o]) => ({ owner, hours: round1(o.hours), usd: round2(o.usd) }))
          .sort((a, b) => b.usd - a.usd || a.owner.localeCompare(b.owner)),
        ...((month.unpricedHours ?? 0) > 0
          ? { unpricedInstanceHours: round1(month.unpricedHours ?? 0) }
          : {}),
      }
    : null;
  const runningFreeTier = input.running.filter((i) => i.typeInfo?.freeTierEligible === true).length;
  const freeTier = month ? freeTierStatus(month.freeTierHours, runningFreeTier, now) : null;
  const limit = policy.budget.monthlyUsd;
  const budget =
    month && limit !== null
      ? { ...budgetStatus(month.estimatedCostUsd, limit), action: policy.budget.action }
      : null;

  const dayAgo = nowMs - DAY_MS;
  const warnings = input.running
    .filter((i) => {
      const at = Date.parse(i.tags[TAGS.warnedAt] ?? '');
      return Number.isFinite(at) && at > dayAgo && at <= nowMs;
    })
    .map((i) => ({
      instanceId: i.instanceId,
      region: i.region,
      warnedAt: i.tags[TAGS.warnedAt] as string,
      rule: i.tags[TAGS.warnRule] ?? '-',
      ...(i.tags[policy.tags.owner] !== undefined ? { owner: i.tags[policy.tags.owner] as string } : {}),
    }));
  const stopsLastDay = input.stops
    .filter((s) => {
      const at = Date.parse(s.stoppedAt);
      return Number.isFinite(at) && at > dayAgo && at <= nowMs;
    })
    .map((s) => ({
      instanceId: s.instanceId,
      region: s.region,
      stoppedAt: s.stoppedAt,
      reason: s.stopReason ?? '-',
      ...(s.tags[policy.tags.owner] !== undefined ? { owner: s.tags[policy.tags.owner] as string } : {}),
    }));

  const savings = savedByStops(input.stops, fallbackPrice, now);
  const quietHours = quietHoursDigest(input, fallbackPrice, dayAgo);

  const runningIds = new Set(input.running.map((i) => i.instanceId));
  const volumes = input.volumes.map((v) => ({
    ...v,
    usdPerMonth: ebsMonthlyUsd(v.volumeType, v.sizeGb).usd,
  }));
  const ipMonth = round2(PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH);
  const elasticIps = input.addresses
    .filter((a) => !a.associated || (a.instanceId !== undefined && !runningIds.has(a.instanceId)))
    .map((a) => ({
      ...a,
      usdPerMonth: ipMonth,
      why: a.associated ? `attached to ${a.instanceId}, which is not running` : 'not attached to anything',
    }));
  const publicCount = running.filter((r) => r.publicIp).length;
  const publicIpv4 = {
    count: publicCount,
    usdPerHour: round4(publicCount * PUBLIC_IPV4_USD_PER_HOUR),
    usdPerMonth: round2(publicCount * PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH),
  };
  const stoppedInstances = input.stoppedDisks
    .map((d) => {
      const owner = d.tags[policy.tags.owner];
      return {
        instanceId: d.instanceId,
        region: d.region,
        instanceType: d.instanceType,
        ...(d.tags.Name !== undefined ? { name: d.tags.Name } : {}),
        ...(owner !== undefined && owner.trim() !== '' ? { owner } : {}),
        sizeGb: d.volumes.reduce((s, v) => s + v.sizeGb, 0),
        usdPerMonth: round2(d.volumes.reduce((s, v) => s + ebsMonthlyUsd(v.volumeType, v.sizeGb).usd, 0)),
      };
    })
    .sort((a, b) => b.usdPerMonth - a.usdPerMonth || a.instanceId.localeCompare(b.instanceId));
  const stopped = whatStoppedCosts({
    now,
    policy,
    stoppedDisks: input.stoppedDisks,
    addresses: input.addresses,
    runningIds,
    ...(input.stoppedCosts ?? {}),
  });
  // The disks of stopped instances and the idle addresses are counted above already.
  const newlyCounted = stopped.items.filter(
    (i) => i.what !== 'stopped-instance-disks' && i.what !== 'idle-elastic-ip',
  );
  const leakTotal =
    volumes.reduce((s, v) => s + v.usdPerMonth, 0) +
    elasticIps.length * ipMonth +
    publicIpv4.usdPerMonth +
    stoppedInstances.reduce((s, v) => s + v.usdPerMonth, 0) +
    newlyCounted.reduce((s, i) => s + (i.usdPerMonth ?? 0), 0);

  const owners = month ? Object.keys(month.byOwner).length : 0;
  const own = selfCostFor({
    instances: input.running.length,
    owners,
    schedule: policy.schedule,
    digestSchedule: policy.digest.schedule,
    customerManagedKey: input.topicKey === true,
    extraSchedules: quietHoursSchedules(policy, now),
  });

  return {
    kind: 'cost-watchdog/digest',
    at: now.toISOString(),
    timeZone: policy.timeZone,
    month: monthBounds(now).start.toISOString().slice(0, 7),
    running,
    runningUsdPerHour: {
      usd: round4(runningUsd),
      source: runningSource,
      estimate: true,
      ...(runningUnpriced > 0 ? { unpriced: runningUnpriced } : {}),
    },
    stopProtected,
    thisMonth,
    freeTier,
    budget,
    lastDay: { warnings, stops: stopsLastDay },
    quietHours,
    savings,
    leaks: {
      volumes,
      elasticIps,
      publicIpv4,
      stoppedInstances,
      stopped,
      totalUsdPerMonth: {
        usd: round2(leakTotal),
        source: 'bundled-table',
        estimate: true,
        ...(stopped.unpriced > 0 ? { unpriced: stopped.unpriced } : {}),
      },
    },
    watchdog: {
      usdPerMonth: own.billedUsd,
      listUsdPerMonth: own.listUsd,
      metricsApi: own.metricsApi,
      items: own.items,
      assumptions: `${input.running.length} instances and ${owners} owners as now, ${Math.round(runsPerMonth(policy.schedule))} sweeps and ${Math.round(runsPerMonth(policy.digest.schedule))} digests a month, us-east-1 list prices; "after free tier" assumes the always-free allowances of a new account are not used by anything else`,
    },
    sources: {
      'price list': 'AWS Price List Query API (on-demand, Linux, shared tenancy), looked up for this digest',
      table: `prices bundled with cost-watchdog (us-east-1 list prices as of ${BUNDLED_PRICES_AS_OF}); used when the Price List API is unreachable or not permitted, and for EBS and public IPv4`,
      metrics: `the watchdog's own month counters (SSM parameters /cost-watchdog/usage/): each sweep adds the hours since the previous sweep of every running instance, priced as above`,
    },
    errors: input.errors,
  };
}

/** The digest's quiet-hours part: its stops and morning starts of the last day, and what its stops saved. */
function quietHoursDigest(
  input: DigestInput,
  priceOf: (type: string, region: string) => HourlyPrice,
  dayAgo: number,
): Digest['quietHours'] {
  const { policy, now } = input;
  const nowMs = now.getTime();
  const quiet = input.stops.filter(
    (s) => s.tags[TAGS.stopRule] === 'quiet-hours' && s.tags[TAGS.stoppedBy] === 'sweep',
  );
  if (policy.quietHours.windows.length === 0 && quiet.length === 0) return null;
  const inLastDay = (iso: string | undefined) => {
    const at = Date.parse(iso ?? '');
    return Number.isFinite(at) && at > dayAgo && at <= nowMs;
  };
  const owner = (s: DigestStop) =>
    s.tags[policy.tags.owner] !== undefined ? { owner: s.tags[policy.tags.owner] as string } : {};
  const saved = savedByStops(quiet, priceOf, now);
  return {
    windows: policy.quietHours.windows.map((w) => describeWindow(w, w.timeZone ?? policy.timeZone)),
    stopsLastDay: quiet
      .filter((s) => inLastDay(s.stoppedAt))
      .map((s) => ({ instanceId: s.instanceId, region: s.region, stoppedAt: s.stoppedAt, ...owner(s) })),
    startedLastDay: quiet
      .filter((s) => s.tags[TAGS.startedBy] === 'morning-start' && inLastDay(s.tags[TAGS.startedAt]))
      .map((s) => ({
        instanceId: s.instanceId,
        region: s.region,
        startedAt: s.tags[TAGS.startedAt] as string,
        ...owner(s),
      })),
    saved: { lastDay: saved.lastDay, sinceStops: saved.sinceStops },
  };
}

/**
 * Dollars not spent because the watchdog stopped instances: for each instance with a stopped-at tag, the
 * hours from the stop until now (still stopped) or until it was started again (LaunchTime after the stop),
 * times its hourly price. Compute only: EBS storage is billed while stopped and is not counted as saved.
 */
export function savedByStops(
  stops: readonly DigestStop[],
  priceOf: (type: string, region: string) => HourlyPrice,
  now: Date,
): Digest['savings'] {
  const nowMs = now.getTime();
  const dayAgo = nowMs - DAY_MS;
  let lastDay = 0;
  let total = 0;
  let unpriced = 0;
  const sources: PriceSource[] = [];
  const items: Digest['savings']['items'] = [];
  for (const s of stops) {
    const from = Date.parse(s.stoppedAt);
    if (!Number.isFinite(from) || from > nowMs) continue;
    const launch = s.launchTime ? Date.parse(s.launchTime) : Number.NaN;
    const isRunning = s.state === 'running' || s.state === 'pending';
    let until: number;
    let restarted = false;
    if (isRunning) {
      // Running with a stop tag older than its last start: it was started again at LaunchTime.
      if (!Number.isFinite(launch) || launch <= from) continue;
      until = Math.min(launch, nowMs);
      restarted = true;
    } else {
      until = nowMs;
    }
    const hours = Math.max(0, (until - from) / 3_600_000);
    const dayHours = Math.max(0, (until - Math.max(from, dayAgo)) / 3_600_000);
    const price = priceOf(s.instanceType, s.region);
    const saved = costOf(price, hours);
    const savedDay = costOf(price, dayHours);
    if (saved !== null) total += saved;
    else unpriced++;
    if (savedDay !== null) lastDay += savedDay;
    sources.push(price.source);
    items.push({
      instanceId: s.instanceId,
      region: s.region,
      instanceType: s.instanceType,
      stoppedAt: new Date(from).toISOString(),
      until: new Date(until).toISOString(),
      restarted,
      hoursNotRun: round1(hours),
      usdPerHour: price.usdPerHour,
      savedUsd: saved === null ? null : round2(saved),
      priceSource: price.source,
    });
  }
  items.sort((a, b) => (b.savedUsd ?? 0) - (a.savedUsd ?? 0) || a.instanceId.localeCompare(b.instanceId));
  const source = worstSource(sources);
  const left = unpriced > 0 ? { unpriced } : {};
  return {
    lastDay: { usd: round2(lastDay), source, estimate: true, ...left },
    sinceStops: { usd: round2(total), source, estimate: true, ...left },
    items,
  };
}

/** The digest email (aligned plain text) and its JSON, for the admin subscription. */
export function renderDigest(d: Digest): Alert {
  const usd = (n: number | null, digits = 2) => (n === null ? '?' : `$${n.toFixed(digits)}`);
  const left = (f: Figure, noun: string) =>
    f.unpriced ? `; ${f.unpriced} ${noun}${f.unpriced === 1 ? '' : 's'} without a price not included` : '';
  const fig = (f: Figure, noun = 'instance') =>
    `${usd(f.usd)} (est., ${f.source === 'cloudwatch-metrics' ? 'metrics' : sourceLabel(f.source)}${left(f, noun)})`;
  const tz = d.timeZone ?? 'UTC';
  const local = (iso: string, zone = true) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? formatLocalTime(new Date(ms), tz, { zone }) : iso;
  };
  const out: string[] = [];
  out.push(`cost-watchdog daily digest, ${formatLocalTime(new Date(d.at), tz, { year: true })}`);
  out.push('All dollar figures are estimates at list prices; the source of each is named (see "Sources").');
  out.push(`Times are in ${tz}.`);
  out.push('');

  out.push(
    `RUNNING NOW: ${d.running.length} instance(s), together ${usd(d.runningUsdPerHour.usd, 4)}/h (est., ${sourceLabel(d.runningUsdPerHour.source as PriceSource)}${left(d.runningUsdPerHour, 'instance')})`,
  );
  if (d.running.length > 0) {
    out.push(
      renderTable(
        ['INSTANCE', 'NAME', 'TYPE', 'REGION', 'OWNER', 'UPTIME', '$/H', 'SOURCE'],
        d.running.map((r) => [
          r.instanceId,
          r.name ?? '',
          r.instanceType,
          r.region,
          r.owner ?? '',
          `${r.uptimeHours.toFixed(1)} h`,
          r.usdPerHour === null ? '?' : r.usdPerHour.toFixed(4),
          sourceLabel(r.priceSource),
        ]),
        [21, 20, 16, 14, 16],
      ),
    );
  }
  out.push('');
  if (d.stopProtected.length > 0) {
    out.push(
      `STOP-PROTECTED: ${d.stopProtected.length} running instance(s) the watchdog can never stop (stop protection is on):`,
    );
    out.push(
      indent(
        renderTable(
          ['INSTANCE', 'NAME', 'TYPE', 'REGION', 'OWNER', '$/H'],
          d.stopProtected.map((r) => [
            r.instanceId,
            r.name ?? '',
            r.instanceType,
            r.region,
            r.owner ?? '',
            r.usdPerHour === null ? '?' : r.usdPerHour.toFixed(4),
          ]),
          [21, 20, 16, 14, 16],
        ),
      ),
    );
    out.push(
      '  Turn it off in the EC2 console (Actions > Instance settings > Change stop protection), or set stopProtection: clear in watchdog.yml for students.',
    );
    out.push('');
  }

  out.push(`THIS MONTH (${d.month})`);
  if (d.thisMonth) {
    const m = d.thisMonth;
    out.push(
      `Instance-hours ${m.instanceHours.toFixed(1)}, estimated ${fig(m.estimated)}, projected to the month's end ${fig(m.projected)}.`,
    );
    if (m.unpricedInstanceHours) {
      out.push(
        `${m.unpricedInstanceHours.toFixed(1)} instance-hours without a price are not included in these dollars (counted in the hours).`,
      );
    }
    if (m.byOwner.length > 0) {
      out.push(
        renderTable(
          ['OWNER', 'HOURS', 'EST $'],
          m.byOwner.map((o) => [o.owner, o.hours.toFixed(1).padStart(8), o.usd.toFixed(2).padStart(9)]),
        ),
      );
    }
  } else {
    out.push("Not available: the month's counters could not be read (see errors).");
  }
  if (d.budget) {
    const b = d.budget;
    out.push(
      `Budget: ${usd(b.estimateUsd)} of ${usd(b.limitUsd)} (${Math.round(b.share * 100)}%)${b.level ? `, ${b.level.toUpperCase()}` : ''}; budget.action ${b.action}.`,
    );
  }
  out.push('');

  out.push(`FREE TIER (${d.month})`);
  if (d.freeTier) {
    const f = d.freeTier;
    out.push(
      `${f.usedHours.toFixed(1)} h used of ${f.allowanceHours} h; projected ${f.projectedHours.toFixed(0)} h at this month's rate, ${f.projectedIfLeftRunning.toFixed(0)} h if the free-tier instances running now keep running${f.overAllowance ? '  << OVER THE ALLOWANCE' : ''}.`,
    );
    out.push(
      '(750 h is the legacy free tier; accounts opened since 2025-07-15 get credits instead, so this is a guide.)',
    );
  } else {
    out.push("Not available: the month's counters could not be read.");
  }
  out.push('');

  out.push('LAST 24 HOURS');
  out.push(`Warnings pending (${d.lastDay.warnings.length}):`);
  for (const w of d.lastDay.warnings)
    out.push(
      `  - ${w.instanceId} (${w.region}${w.owner ? `, ${w.owner}` : ''}) ${w.rule}, warned ${local(w.warnedAt, false)}`,
    );
  out.push(`Stops (${d.lastDay.stops.length}):`);
  for (const s of d.lastDay.stops)
    out.push(
      `  - ${s.instanceId} (${s.region}${s.owner ? `, ${s.owner}` : ''}) at ${local(s.stoppedAt, false)}: ${localizeTimes(s.reason, tz)}`,
    );
  out.push('');

  if (d.quietHours) {
    const q = d.quietHours;
    out.push(`QUIET HOURS (${q.windows.length > 0 ? q.windows.join('; ') : 'none set now'})`);
    out.push(`Stopped by quiet hours in the last 24 h (${q.stopsLastDay.length}):`);
    for (const s of q.stopsLastDay)
      out.push(
        `  - ${s.instanceId} (${s.region}${s.owner ? `, ${s.owner}` : ''}) at ${local(s.stoppedAt, false)}`,
      );
    if (q.startedLastDay.length > 0) {
      out.push(`Started again after quiet hours in the last 24 h (${q.startedLastDay.length}):`);
      for (const s of q.startedLastDay)
        out.push(
          `  - ${s.instanceId} (${s.region}${s.owner ? `, ${s.owner}` : ''}) at ${local(s.startedAt, false)}`,
        );
    }
    out.push(
      `Saved by quiet hours: last 24 h ${fig(q.saved.lastDay, 'stop')}, since each stop ${fig(q.saved.sinceStops, 'stop')} (compute only; included in the dollars saved below)`,
    );
    out.push('');
  }

  out.push(
    `DOLLARS SAVED BY STOPS: last 24 h ${fig(d.savings.lastDay, 'stop')}, since each stop ${fig(d.savings.sinceStops, 'stop')}`,
  );
  if (d.savings.items.length > 0) {
    out.push(
      renderTable(
        ['INSTANCE', 'TYPE', 'STOPPED AT', 'UNTIL', 'HOURS', '$/H', 'SAVED', 'SOURCE'],
        d.savings.items.map((s) => [
          s.instanceId,
          s.instanceType,
          local(s.stoppedAt, false),
          s.restarted ? `${local(s.until, false)} restart` : 'now (stopped)',
          s.hoursNotRun.toFixed(1),
          s.usdPerHour === null ? '?' : s.usdPerHour.toFixed(4),
          s.savedUsd === null ? '?' : s.savedUsd.toFixed(2),
          sourceLabel(s.priceSource),
        ]),
      ),
    );
    out.push('(compute only: EBS storage is still billed while an instance is stopped)');
  }
  out.push('');

  out.push(`COST LEAKS: about ${fig(d.leaks.totalUsdPerMonth)} a month if left as they are`);
  out.push(`Unattached EBS volumes (${d.leaks.volumes.length}):`);
  if (d.leaks.volumes.length > 0) {
    out.push(
      indent(
        renderTable(
          ['VOLUME', 'REGION', 'TYPE', 'GB', '$/MONTH'],
          d.leaks.volumes.map((v) => [
            v.volumeId,
            v.region,
            v.volumeType,
            String(v.sizeGb),
            v.usdPerMonth.toFixed(2),
          ]),
        ),
      ),
    );
  }
  out.push(
    `Elastic IPs not in use (${d.leaks.elasticIps.length}), $${(PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH).toFixed(2)}/month each:`,
  );
  for (const a of d.leaks.elasticIps)
    out.push(`  - ${a.publicIp} (${a.region}${a.allocationId ? `, ${a.allocationId}` : ''}): ${a.why}`);
  const stoppedTotal = d.leaks.stoppedInstances.reduce((s, v) => s + v.usdPerMonth, 0);
  out.push(
    `Stopped instances still paying for their disks (${d.leaks.stoppedInstances.length}), $${stoppedTotal.toFixed(2)}/month:`,
  );
  if (d.leaks.stoppedInstances.length > 0) {
    out.push(
      indent(
        renderTable(
          ['INSTANCE', 'NAME', 'OWNER', 'REGION', 'GB', '$/MONTH'],
          d.leaks.stoppedInstances.map((v) => [
            v.instanceId,
            v.name ?? '',
            v.owner ?? '',
            v.region,
            String(v.sizeGb),
            v.usdPerMonth.toFixed(2),
          ]),
          [21, 20, 16, 14],
        ),
      ),
    );
  }
  out.push(
    `Public IPv4 addresses on running instances: ${d.leaks.publicIpv4.count} x $${PUBLIC_IPV4_USD_PER_HOUR}/h = $${d.leaks.publicIpv4.usdPerHour.toFixed(3)}/h, $${d.leaks.publicIpv4.usdPerMonth.toFixed(2)}/month`,
  );
  out.push(...renderStoppedCosts(d.leaks.stopped));
  out.push('');

  out.push(
    `THE WATCHDOG ITSELF: about $${d.watchdog.usdPerMonth.toFixed(2)}/month after the AWS free tier ($${d.watchdog.listUsdPerMonth.toFixed(2)} at list price; est.)`,
  );
  out.push(
    indent(
      renderTable(
        ['ITEM', 'QUANTITY', 'LIST $', 'BILLED $'],
        d.watchdog.items.map((i) => [i.item, i.quantity, i.listUsd.toFixed(2), i.billedUsd.toFixed(2)]),
        [38, 34],
      ),
    ),
  );
  out.push(`  (${d.watchdog.assumptions})`);
  out.push('');
  out.push('Sources:');
  for (const [k, v] of Object.entries(d.sources)) out.push(`  ${k}: ${v}`);
  if (d.errors.length > 0) {
    out.push('');
    out.push(`Errors (${d.errors.length}); the figures above leave these out:`);
    for (const e of d.errors) out.push(`  ${errorLine(e)}`);
  }

  const est = d.thisMonth ? ` ~$${d.thisMonth.estimated.usd.toFixed(2)} this month,` : '';
  return {
    subject: `cost-watchdog digest ${localDate(new Date(d.at), tz)}: ${d.running.length} running,${est} leaks ~$${d.leaks.totalUsdPerMonth.usd.toFixed(2)}/month`,
    text: out.join('\n'),
    data: d,
  };
}

/** Old snapshots, NAT gateways, stopped databases and notebooks per resource, then everything stopped per owner. */
function renderStoppedCosts(c: StoppedCosts | undefined): string[] {
  if (!c) return [];
  const out: string[] = [];
  const more = c.items.filter((i) => i.what !== 'stopped-instance-disks' && i.what !== 'idle-elastic-ip');
  for (const what of ['old-snapshot', 'nat-gateway', 'stopped-database', 'stopped-notebook'] as const) {
    const mine = more.filter((i) => i.what === what);
    const sum = mine.reduce((s, i) => s + (i.usdPerMonth ?? 0), 0);
    const label = STOPPED_COST_LABELS[what];
    out.push(`${label.charAt(0).toUpperCase()}${label.slice(1)} (${mine.length}), $${sum.toFixed(2)}/month:`);
    if (mine.length > 0) {
      out.push(
        indent(
          renderTable(
            ['ID', 'OWNER', 'REGION', 'WHAT', '$/MONTH'],
            mine.map((i) => [
              i.id,
              i.owner ?? '',
              i.region,
              i.detail,
              i.usdPerMonth === null ? '?' : i.usdPerMonth.toFixed(2),
            ]),
            // WHAT is wide enough for a NAT gateway's measured traffic and its monthly estimate.
            [28, 16, 14, 96],
          ),
        ),
      );
    }
  }
  if (c.byOwner.length > 0) {
    out.push(
      'What stopped or unused resources still cost per owner (everything above but the public IPv4 of running instances):',
    );
    out.push(
      indent(
        renderTable(
          ['OWNER', 'ITEMS', '$/MONTH'],
          c.byOwner.map((o) => [o.owner, String(o.count), o.usdPerMonth.toFixed(2)]),
          [24],
        ),
      ),
    );
  }
  out.push(...c.basis.map((b) => `  (${b})`));
  return out;
}

function metricFigure(usd: number): Figure {
  return { usd: round2(usd), source: 'cloudwatch-metrics', estimate: true };
}

/** The less certain of the sources (any table price makes the total a table-based figure). */
function worstSource(sources: PriceSource[]): PriceSource {
  return sources.length === 0 || sources.includes('bundled-table') ? 'bundled-table' : 'price-list-api';
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
