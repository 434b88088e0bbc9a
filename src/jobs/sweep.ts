import type { AwsTarget } from '../aws/clients.js';
import { mapBounded } from '../aws/clients.js';
import type { SweepServices } from '../aws/services.js';
import { describeError } from '../core/errors.js';
import {
  afterFailedProtectionCheck,
  type Decision,
  type EvaluateContext,
  evaluate,
  needsProtectionCheck,
  postpone,
  type Rule,
  stopReasonOf,
  stopReasonTag,
} from '../core/evaluate.js';
import type { Instance, InstanceMetrics, InstanceTypeInfo } from '../core/instance.js';
import {
  firstStageRequest,
  kindEnabled,
  kindOf,
  kindOperation,
  kindTypeInfo,
  metricsRequestFor,
  policyForKind,
  secondStageRequest,
} from '../core/kinds.js';
import type { FleetPort, MetricsPort, MetricsRequest } from '../core/ports.js';
import { chooseMetricsApi, runsPerMonth } from '../core/self-cost.js';
import type { Policy } from '../core/policy.js';
import {
  type Alert,
  appendResult,
  emptySweepReport,
  type ResultLists,
  type ScopeSummary,
  type SweepReport,
} from '../core/report.js';
import {
  checkStopProtection,
  clearWarnings,
  type EnforceError,
  PROTECTION_CHECKS_IN_PARALLEL,
  stopResources,
  writeWarnings,
} from './enforce.js';
import type { LinksById } from '../core/render.js';
import { publishSweepAlerts } from './sweep-alerts.js';

export { ALERTS_IN_PARALLEL } from './sweep-alerts.js';

/** DescribeInstanceAttribute (stop protection) calls one target keeps in flight at once. */
export const STOP_PROTECTION_CHECKS_IN_PARALLEL = PROTECTION_CHECKS_IN_PARALLEL;

/**
 * Stop-protection checks one target (account x region) makes per run at most. EC2 refills about 20 Describe
 * calls per second per account and region, so 1,000 checks take about a minute against real EC2 and a run stays
 * well inside the function's 300 s. A first run over thousands of newly idle instances warns the first 1,000 and
 * leaves the rest for the next runs (report.postponed); stops go first. docs/scale.md.
 */
export const STOP_PROTECTION_CHECKS_PER_TARGET = 1_000;

/** Inputs of a sweep. `now` is injected: the CLI's --at and the tests set it, the handler passes the clock. */
export interface SweepOptions {
  policy: Policy;
  now: Date;
  /**
   * Overrides policy.dryRun when true, and then sends nothing. The policy's own dryRun sends the admin a DRY RUN
   * report of what would have been done.
   */
  dryRun?: boolean;
  targets: AwsTarget[];
  services: SweepServices;
  /** Publishes alerts; absent = no alerts (the CLI's plan). */
  publish?: (alert: Alert) => Promise<unknown>;
  /** Receives the state of each instance and its metrics (the snapshot command records them). */
  onObserved?: (instance: Instance, metrics: InstanceMetrics | undefined) => void;
  /** Facts for rules beyond one instance (this month's estimate against the budget); absent = none. */
  context?: EvaluateContext;
  /** Signed keep / stop links for the instances warned in this run; absent = warnings without links. */
  actionLinks?: (warned: Decision[]) => Promise<LinksById>;
  /** Read every metric series of every candidate (snapshot), instead of CPU first and the rest when CPU is low. */
  fullMetrics?: boolean;
  /** The region whose targets are swept first (where the function runs); the report keeps the targets' order. */
  homeRegion?: string;
}

/**
 * Sweeps every target (account x region) with a concurrency bound: evaluates every running instance, writes
 * new warnings, clears stale ones, stops instances whose warning grace has passed, and sends one summary alert
 * (plus one per owner). A failing region or instance is reported and never aborts the rest.
 */
export async function runSweep(options: SweepOptions): Promise<SweepReport> {
  const { policy, now } = options;
  const dryRun = options.dryRun === true || policy.dryRun;
  const report = emptySweepReport(now.toISOString(), dryRun);

  // The home region's targets start first (a fleet is mostly where its stack runs): with `regions: all`, the
  // empty regions would otherwise take the first `concurrency` slots. The report keeps the targets' order.
  const order = options.targets.map((t, k) => ({ t, k }));
  const home = options.homeRegion;
  if (home) order.sort((a, b) => Number(b.t.region === home) - Number(a.t.region === home) || a.k - b.k);
  const results = new Array<TargetResult>(order.length);
  await mapBounded(order, policy.concurrency, async ({ t, k }) => {
    results[k] = await sweepTarget(t, options, dryRun);
  });
  for (const r of results) {
    report.scopes.push(r.scope);
    report.instancesSeen += r.scope.instances;
    appendResult(report, r);
  }

  if (options.publish) {
    await publishSweepAlerts(report, {
      policy,
      publish: options.publish,
      dryRunAsked: options.dryRun === true,
      ...(options.actionLinks ? { actionLinks: options.actionLinks } : {}),
    });
  }
  return report;
}

interface TargetResult extends ResultLists {
  scope: ScopeSummary;
}

async function sweepTarget(target: AwsTarget, options: SweepOptions, dryRun: boolean): Promise<TargetResult> {
  const where = { region: target.region, ...(target.account ? { account: target.account } : {}) };
  const out: TargetResult = { ...emptyResult(), scope: { ...where, instances: 0, ok: true } };

  if (target.unavailable) {
    // e.g. AssumeRole into a member account failed: one failed scope, the other targets go on.
    out.errors.push({ ...where, ...target.unavailable });
    out.scope.ok = false;
    out.scope.error = `${target.unavailable.operation}: ${target.unavailable.message}`;
    return out;
  }

  // EC2 first, then the other kinds the policy watches (notebooks, databases), each with its own policy. A region
  // whose EC2 cannot be listed is one failed scope: its other kinds are not tried (one error, not four).
  const { ec2, others } = fleetsOf(options, target);
  const kindOptions = (fleet: FleetPort) => ({
    ...options,
    policy: policyForKind(options.policy, kindOf(fleet)),
  });
  // The other kinds start once EC2's first page has come (the region answers), all at once and beside EC2's next
  // pages: each is its own service. Their results follow EC2's, in the fixed order of fleetsOf().
  let release: (go: boolean) => void = () => undefined;
  const regionAnswers = new Promise<boolean>((resolve) => {
    release = resolve;
  });
  const ec2Swept = sweepFleet(target, ec2, kindOptions(ec2), dryRun, out, () => release(true)).finally(() =>
    release(out.scope.ok),
  );
  const parts = Promise.all(
    others.map(async (fleet) => {
      if (!(await regionAnswers)) return null;
      const part: TargetResult = { ...emptyResult(), scope: { ...where, instances: 0, ok: true } };
      await sweepFleet(target, fleet, kindOptions(fleet), dryRun, part);
      return part;
    }),
  );
  const [, done] = await Promise.all([ec2Swept, parts]);
  for (const part of done) {
    if (!part) continue;
    out.scope.instances += part.scope.instances;
    if (out.scope.metricsApi === undefined && part.scope.metricsApi)
      out.scope.metricsApi = part.scope.metricsApi;
    appendResult(out, part);
  }
  return out;
}

function emptyResult(): Omit<TargetResult, 'scope'> {
  return { decisions: [], warned: [], stopped: [], cleared: [], postponed: [], errors: [] };
}

/** The fleets of a target the policy watches: EC2, and the notebooks and databases unless switched off. */
function fleetsOf(options: SweepOptions, target: AwsTarget): { ec2: FleetPort; others: FleetPort[] } {
  const others = options.services.fleets?.(target) ?? [];
  return {
    ec2: options.services.ec2(target),
    others: others.filter((f) => kindEnabled(options.policy, kindOf(f))),
  };
}

/**
 * One kind of resource in one target (`options.policy` is that kind's policy): list, type facts, metrics (kinds
 * without metrics skip them), evaluate, protection checks, enforce. A failed EC2 listing fails the scope; a failed
 * listing of another kind is an error of the run and the scope's EC2 results stand.
 */
async function sweepFleet(
  target: AwsTarget,
  fleet: FleetPort,
  options: SweepOptions,
  dryRun: boolean,
  out: TargetResult,
  /** Called once the first page of the listing has come. */
  onListed?: () => void,
): Promise<void> {
  const { policy, now } = options;
  const kind = kindOf(fleet);
  const where = { region: target.region, ...(target.account ? { account: target.account } : {}) };
  const fail = (operation: string, err: unknown, instanceId?: string) =>
    out.errors.push({
      ...where,
      ...(instanceId ? { instanceId } : {}),
      operation,
      message: describeError(err),
    });
  const failed = (errors: readonly EnforceError[]) => {
    for (const e of errors)
      out.errors.push({
        ...where,
        ...(e.instanceId ? { instanceId: e.instanceId } : {}),
        operation: kindOperation(kind, e.operation),
        message: e.message,
      });
  };

  // Each instance is judged as soon as its metrics arrive, and its datapoints are let go unless it needs a second
  // look after the stop-protection check below: a sweep of 10,000 instances holds a few pages of datapoints, not
  // 720,000 (docs/scale.md). DescribeInstances pages, type facts and metrics overlap: while the metrics of one
  // page are read, the next page is on its way.
  const instances: Instance[] = [];
  const decisions = new Map<string, Decision>();
  const kept = new Map<string, InstanceMetrics>();
  let abandoned = false;
  const judge = (i: Instance, m: InstanceMetrics | undefined) => {
    if (abandoned) return;
    options.onObserved?.(i, m);
    const d = evaluate(i, m, policy, now, options.context);
    decisions.set(i.instanceId, d);
    if (m && needsProtectionCheck(d)) kept.set(i.instanceId, m);
  };
  const types = typeFacts(fleet, policy, (err) => fail(kindOperation(kind, 'types'), err));
  const reader = metricsReader(target, options, (err) =>
    fail(`cloudwatch:${out.scope.metricsApi ?? 'GetMetricData'}`, err),
  );
  // Metrics only for instances that have run long enough to be idle, and whose kind reads any (notebooks do not).
  const minRunningMs = policy.idle.minRunningMinutes * 60_000;
  const wantsMetrics = (i: Instance) =>
    now.getTime() - Date.parse(i.launchTime) >= minRunningMs && metricsRequestFor(i).queries.length > 0;
  // The free GetMetricStatistics while a month of sweeps like this one fits the free API requests, else batched.
  // The choice needs the number of candidates: candidates wait until it is made (more only ever means GetMetricData).
  let api = policy.metricsApi === 'auto' ? undefined : policy.metricsApi;
  const choose = (candidates: number) => chooseMetricsApi(candidates * 3 * runsPerMonth(policy.schedule));
  let waiting: Instance[] = [];
  const read = (candidates: Instance[], chosen: 'GetMetricData' | 'GetMetricStatistics') => {
    out.scope.metricsApi = chosen;
    return reader.read(candidates, chosen, judge);
  };
  const pages = (fleet.runningPages?.() ?? onePage(fleet))[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Instance[]>;
      try {
        next = await pages.next();
      } catch (err) {
        // The listing failed: nothing of this kind here is judged or acted on; the other targets go on. A failed
        // EC2 listing fails the scope (its other kinds are not tried when its first page failed); another kind's is
        // an error of the run.
        abandoned = true;
        await reader.settled();
        fail(kindOperation(kind, 'list'), err);
        if (kind === 'ec2') {
          out.scope.ok = false;
          out.scope.error = describeError(err);
        }
        return;
      }
      onListed?.();
      if (next.done) break;
      const page = next.value;
      instances.push(...page);
      await types.learn(page);
      waiting.push(...page.filter(wantsMetrics));
      api ??= waiting.length > 0 && choose(waiting.length) === 'GetMetricData' ? 'GetMetricData' : undefined;
      if (api && waiting.length > 0) {
        await read(waiting, api);
        waiting = [];
      }
    }
  } finally {
    await pages.return?.();
  }
  if (waiting.length > 0) await read(waiting, api ?? choose(waiting.length));
  await reader.settled();
  out.scope.instances += instances.length;
  if (instances.length === 0) return;
  // Too recently started to be idle, or left without metrics by a CloudWatch failure.
  for (const i of instances) if (!decisions.has(i.instanceId)) judge(i, undefined);

  // Before any stop, and before a new warning (which announces a stop): stop protection, one call each, only
  // for those few. A stop-protected instance is reported, never warned (else: a warning every other run).
  // At most STOP_PROTECTION_CHECKS_PER_TARGET, stops first: the others wait for the next run, unchanged.
  const wanted = instances.filter((i) => needsProtectionCheck(decisions.get(i.instanceId) as Decision));
  const stopsFirst = [
    ...wanted.filter((i) => decisions.get(i.instanceId)?.action === 'stop'),
    ...wanted.filter((i) => decisions.get(i.instanceId)?.action !== 'stop'),
  ];
  const toCheck = stopsFirst.slice(0, STOP_PROTECTION_CHECKS_PER_TARGET);
  const why = `at most ${STOP_PROTECTION_CHECKS_PER_TARGET} stop-protection checks per region per run`;
  for (const i of stopsFirst.slice(STOP_PROTECTION_CHECKS_PER_TARGET)) {
    decisions.set(i.instanceId, postpone(decisions.get(i.instanceId) as Decision, why));
    out.postponed.push(i.instanceId);
  }
  const protection = await checkStopProtection(
    fleet,
    toCheck.map((i) => i.instanceId),
  );
  for (const i of toCheck) {
    const checked = protection.get(i.instanceId);
    if (typeof checked !== 'boolean') {
      fail(kindOperation(kind, 'DescribeInstanceAttribute'), checked?.error, i.instanceId);
      decisions.set(i.instanceId, afterFailedProtectionCheck(decisions.get(i.instanceId) as Decision));
      continue;
    }
    i.stopProtected = checked;
    if (checked)
      decisions.set(i.instanceId, evaluate(i, kept.get(i.instanceId), policy, now, options.context));
  }
  kept.clear();
  // In listing order, whatever order the metrics came in.
  let mine = instances.map((i) => decisions.get(i.instanceId) as Decision);
  if (dryRun) {
    out.decisions.push(...mine);
    return;
  }

  const warnings = await writeWarnings(
    fleet,
    mine
      .filter((d): d is Decision & { rule: Rule } => d.action === 'warn' && d.newWarning && d.rule !== null)
      .map((d) => ({ instanceId: d.instanceId, rule: d.rule })),
    now,
  );
  out.warned.push(...warnings.warned);
  failed(warnings.errors);
  // A decision of a warning just written carries that warning's time: its links answer exactly this warning.
  const warnedAt = now.toISOString();
  const written = new Set(warnings.warned);
  if (written.size > 0) mine = mine.map((d) => (written.has(d.instanceId) ? { ...d, warnedAt } : d));
  out.decisions.push(...mine);

  const cleared = await clearWarnings(
    fleet,
    mine.filter((d) => d.clearWarning).map((d) => d.instanceId),
  );
  out.cleared.push(...cleared.cleared);
  failed(cleared.errors);

  const stops = await stopResources(
    fleet,
    mine
      .filter((d) => d.action === 'stop')
      .map((d) => ({
        instanceId: d.instanceId,
        hibernate: d.hibernate,
        reason: stopReasonOf(d),
        ...(d.rule ? { rule: d.rule } : {}),
      })),
    { by: 'sweep', now },
  );
  out.stopped.push(...stops.stopped);
  // Stopped by someone else between describe and stop: not ours to claim (no stop record, no savings).
  out.cleared.push(...stops.alreadyStopped);
  failed(stops.errors);
}

/** A fleet without pages, as one page. */
async function* onePage(fleet: { listRunning(): Promise<Instance[]> }): AsyncGenerator<Instance[]> {
  yield await fleet.listRunning();
}

/**
 * Type facts of the instance types met so far, asked once per type (DescribeInstanceTypes, 100 types a call), as
 * the resource's kind reads them (kindTypeInfo: free tier of notebooks and databases from the policy's lists).
 */
function typeFacts(fleet: FleetPort, policy: Policy, fail: (err: unknown) => void) {
  const known = new Map<string, InstanceTypeInfo>();
  const asked = new Set<string>();
  return {
    /** Sets `typeInfo` on each instance of the page, asking for the types not asked for before. */
    async learn(page: Instance[]): Promise<void> {
      const unknown = [...new Set(page.map((i) => i.instanceType))].filter((t) => !asked.has(t));
      if (unknown.length > 0) {
        for (const t of unknown) asked.add(t);
        try {
          for (const [t, info] of await fleet.describeTypes(unknown)) known.set(t, info);
        } catch (err) {
          // Without type facts, free-tier rules are "unknown" and never lead to a stop.
          fail(err);
        }
      }
      for (const i of page) {
        const info = kindTypeInfo(i, policy, known.get(i.instanceType));
        if (info) i.typeInfo = info;
      }
    },
  };
}

/** Pages whose metrics are read at once; their instances are judged in page order. */
const PAGES_READ_AT_ONCE = 2;

type Judge = (i: Instance, m: InstanceMetrics | undefined) => void;

/**
 * Reads the metrics of the candidates page by page: CPU first, network (and GPU) only for instances whose CPU is
 * low (a busy CPU decides on its own). Up to PAGES_READ_AT_ONCE pages are read at once (the adapter bounds its
 * calls), and the instances are judged in page order, in the same order whatever order the answers came in.
 * After a CloudWatch failure, the instances not judged yet have no metrics (none of them is idle this run), and
 * no more metrics are read.
 */
function metricsReader(target: AwsTarget, options: SweepOptions, fail: (err: unknown) => void) {
  const { policy, now, services } = options;
  const from = new Date(now.getTime() - policy.idle.windowHours * 3_600_000);
  let metrics: MetricsPort | undefined;
  let broken = false;
  let turn: Promise<void> = Promise.resolve();
  const reading: Promise<void>[] = [];

  /** The candidates' metrics in judging order, up to a failure (then `error`). */
  const measure = async (
    candidates: Instance[],
    api: 'GetMetricData' | 'GetMetricStatistics',
  ): Promise<{ judged: [Instance, InstanceMetrics][]; error?: unknown }> => {
    metrics ??= services.metrics(target);
    const port = metrics;
    const byId = new Map(candidates.map((i) => [i.instanceId, i]));
    const groups: { decided: [Instance, InstanceMetrics][]; rest: Promise<SecondRead> }[] = [];
    let error: unknown;
    try {
      const first = options.fullMetrics
        ? candidates.map(metricsRequestFor)
        : candidates.map(firstStageRequest);
      for await (const done of port.stream(first, from, now, { api })) {
        const decided: [Instance, InstanceMetrics][] = [];
        const later = new Map<string, InstanceMetrics>();
        const secondStage: MetricsRequest[] = [];
        for (const [id, m] of done) {
          const i = byId.get(id);
          if (!i) continue;
          const more = options.fullMetrics ? null : secondStageRequest(i, m, policy, now);
          if (more) {
            later.set(id, m);
            secondStage.push(more);
          } else decided.push([i, m]);
        }
        // The second read of this batch goes on while the next batches arrive.
        groups.push({ decided, rest: secondRead(port, secondStage, later, byId, from, now, api) });
      }
    } catch (err) {
      error = err;
    }
    const judged: [Instance, InstanceMetrics][] = [];
    for (const g of groups) {
      judged.push(...g.decided);
      const r = await g.rest;
      judged.push(...r.judged);
      if (r.error !== undefined) return { judged, error: r.error };
    }
    return error === undefined ? { judged } : { judged, error };
  };

  return {
    /** Starts reading the candidates' metrics (waiting while PAGES_READ_AT_ONCE pages are being read). */
    async read(
      candidates: Instance[],
      api: 'GetMetricData' | 'GetMetricStatistics',
      judge: Judge,
    ): Promise<void> {
      if (broken) return;
      while (reading.length >= PAGES_READ_AT_ONCE) await reading.shift();
      const measured = measure(candidates, api);
      const mine = turn.then(async () => {
        const { judged, error } = await measured;
        if (broken) return;
        for (const [i, m] of judged) judge(i, m);
        if (error !== undefined) {
          broken = true;
          fail(error);
        }
      });
      turn = mine;
      reading.push(mine);
    },
    /** Resolves when every page read so far has been judged. */
    async settled(): Promise<void> {
      await turn;
    },
  };
}

interface SecondRead {
  judged: [Instance, InstanceMetrics][];
  error?: unknown;
}

/** The network (and GPU) series of the low-CPU instances of one batch, merged with their CPU. Never rejects. */
async function secondRead(
  port: MetricsPort,
  requests: MetricsRequest[],
  cpu: Map<string, InstanceMetrics>,
  byId: Map<string, Instance>,
  from: Date,
  now: Date,
  api: 'GetMetricData' | 'GetMetricStatistics',
): Promise<SecondRead> {
  const judged: [Instance, InstanceMetrics][] = [];
  if (requests.length === 0) return { judged };
  try {
    for await (const rest of port.stream(requests, from, now, { api })) {
      for (const [id, m] of rest) {
        const i = byId.get(id);
        if (i) judged.push([i, { ...cpu.get(id), ...m }]);
      }
    }
    return { judged };
  } catch (error) {
    return { judged, error };
  }
}

/** The stop-reason tag value of a sweep decision (its rule's measured reason, within the tag limit). */
export function stopReason(d: Decision): string {
  return stopReasonTag(stopReasonOf(d));
}
