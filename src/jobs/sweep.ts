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
import type { Instance, InstanceMetrics } from '../core/instance.js';
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
import type { FleetPort, MetricsRequest } from '../core/ports.js';
import { chooseMetricsApi, runsPerMonth } from '../core/self-cost.js';
import type { Policy } from '../core/policy.js';
import type { Alert, RunError, ScopeSummary, SweepReport } from '../core/report.js';
import {
  checkStopProtection,
  clearWarnings,
  type EnforceError,
  PROTECTION_CHECKS_IN_PARALLEL,
  stopResources,
  writeWarnings,
} from './enforce.js';
import { renderDryRunSweepAlert } from '../core/dry-run.js';
import { type LinksById, renderOwnerAlert, renderSweepAlert } from '../core/render.js';

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
}

/**
 * Sweeps every target (account x region) with a concurrency bound: evaluates every running instance, writes
 * new warnings, clears stale ones, stops instances whose warning grace has passed, and sends one summary alert
 * (plus one per owner). A failing region or instance is reported and never aborts the rest.
 */
export async function runSweep(options: SweepOptions): Promise<SweepReport> {
  const { policy, now } = options;
  const dryRun = options.dryRun === true || policy.dryRun;
  const report: SweepReport = {
    at: now.toISOString(),
    dryRun,
    scopes: [],
    instancesSeen: 0,
    decisions: [],
    warned: [],
    stopped: [],
    cleared: [],
    postponed: [],
    errors: [],
    alertsSent: 0,
  };

  const results = await mapBounded(options.targets, policy.concurrency, (target) =>
    sweepTarget(target, options, dryRun),
  );
  for (const r of results) {
    report.scopes.push(r.scope);
    report.instancesSeen += r.scope.instances;
    report.decisions.push(...r.decisions);
    report.warned.push(...r.warned);
    report.stopped.push(...r.stopped);
    report.cleared.push(...r.cleared);
    report.postponed.push(...r.postponed);
    report.errors.push(...r.errors);
  }

  if (dryRun && policy.dryRun && options.dryRun !== true && options.publish) {
    // The policy's dry run (a first day with the watchdog) reports to the admin what it would have done; a
    // dry run asked for by the caller (plan, sweep --dry-run) sends nothing.
    const wouldAct = report.decisions.some((d) => d.action === 'stop' || (d.action === 'warn' && d.newWarning));
    if (wouldAct || report.errors.length > 0) {
      try {
        await options.publish(renderDryRunSweepAlert(report, policy));
        report.alertsSent++;
      } catch (err) {
        report.errors.push({ region: '-', operation: 'sns:Publish', message: describeError(err) });
      }
    }
  }
  if (
    !dryRun &&
    options.publish &&
    (report.warned.length > 0 || report.stopped.length > 0 || report.errors.length > 0)
  ) {
    let links: LinksById | undefined;
    const warnedIds = new Set(report.warned);
    const stoppedIds = new Set(report.stopped);
    const warned = report.decisions.filter((d) => warnedIds.has(d.instanceId));
    if (options.actionLinks && warned.length > 0) {
      // Without the signing key the warnings still go out, without links, and the report says why.
      links = await options.actionLinks(warned).catch((err: unknown) => {
        report.errors.push({ region: '-', operation: 'action links', message: describeError(err) });
        return undefined;
      });
    }
    const alerts: Alert[] = [renderSweepAlert(report, policy, links)];
    const owners = new Set<string>();
    for (const d of report.decisions) {
      if (d.owner && (warnedIds.has(d.instanceId) || stoppedIds.has(d.instanceId))) owners.add(d.owner);
    }
    for (const owner of [...owners].sort()) alerts.push(renderOwnerAlert(report, policy, owner, links));
    for (const alert of alerts) {
      try {
        await options.publish(alert);
        report.alertsSent++;
      } catch (err) {
        report.errors.push({ region: '-', operation: 'sns:Publish', message: describeError(err) });
      }
    }
  }
  return report;
}

interface TargetResult {
  scope: ScopeSummary;
  decisions: Decision[];
  warned: string[];
  stopped: string[];
  cleared: string[];
  postponed: string[];
  errors: RunError[];
}

async function sweepTarget(target: AwsTarget, options: SweepOptions, dryRun: boolean): Promise<TargetResult> {
  const where = { region: target.region, ...(target.account ? { account: target.account } : {}) };
  const out: TargetResult = {
    scope: { ...where, instances: 0, ok: true },
    decisions: [],
    warned: [],
    stopped: [],
    cleared: [],
    postponed: [],
    errors: [],
  };

  if (target.unavailable) {
    // e.g. AssumeRole into a member account failed: one failed scope, the other targets go on.
    out.errors.push({ ...where, ...target.unavailable });
    out.scope.ok = false;
    out.scope.error = `${target.unavailable.operation}: ${target.unavailable.message}`;
    return out;
  }

  // EC2 first, then the other kinds the policy watches (notebooks, databases), each with its own policy. A region
  // whose EC2 cannot be listed is one failed scope: its other kinds are not tried (one error, not four).
  for (const fleet of fleetsOf(options, target)) {
    if (!out.scope.ok) break;
    await sweepFleet(
      target,
      fleet,
      { ...options, policy: policyForKind(options.policy, kindOf(fleet)) },
      dryRun,
      out,
    );
  }
  return out;
}

/** The fleets of a target the policy watches: EC2 first, then notebooks and databases unless switched off. */
function fleetsOf(options: SweepOptions, target: AwsTarget): FleetPort[] {
  const others = options.services.fleets?.(target) ?? [];
  return [options.services.ec2(target), ...others.filter((f) => kindEnabled(options.policy, kindOf(f)))];
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
): Promise<void> {
  const { policy, now, services } = options;
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

  let instances: Instance[];
  try {
    instances = await fleet.listRunning();
  } catch (err) {
    fail(kindOperation(kind, 'list'), err);
    if (kind === 'ec2') {
      out.scope.ok = false;
      out.scope.error = describeError(err);
    }
    return;
  }
  out.scope.instances += instances.length;
  if (instances.length === 0) return;

  try {
    const types = await fleet.describeTypes(instances.map((i) => i.instanceType));
    for (const i of instances) {
      const info = kindTypeInfo(i, options.policy, types.get(i.instanceType));
      if (info) i.typeInfo = info;
    }
  } catch (err) {
    // Without type facts, free-tier rules are "unknown" and never lead to a stop.
    fail(kindOperation(kind, 'types'), err);
  }

  // Each instance is judged as soon as its metrics arrive (one GetMetricData batch at a time), and its
  // datapoints are let go unless it needs a second look after the stop-protection check below: a sweep of
  // 10,000 instances holds one batch of datapoints, not 720,000 (docs/scale.md).
  const decisions = new Map<string, Decision>();
  const kept = new Map<string, InstanceMetrics>();
  const judge = (i: Instance, m: InstanceMetrics | undefined) => {
    options.onObserved?.(i, m);
    const d = evaluate(i, m, policy, now, options.context);
    decisions.set(i.instanceId, d);
    if (m && needsProtectionCheck(d)) kept.set(i.instanceId, m);
  };
  // Metrics only for instances that have run long enough to be idle.
  const minRunningMs = policy.idle.minRunningMinutes * 60_000;
  const candidates = instances.filter(
    (i) =>
      now.getTime() - Date.parse(i.launchTime) >= minRunningMs && metricsRequestFor(i).queries.length > 0,
  );
  if (candidates.length > 0) {
    const byId = new Map(candidates.map((i) => [i.instanceId, i]));
    const from = new Date(now.getTime() - policy.idle.windowHours * 3_600_000);
    const metrics = services.metrics(target);
    // The free GetMetricStatistics while a month of sweeps like this one fits the free API requests, else batched.
    const api =
      policy.metricsApi === 'auto'
        ? chooseMetricsApi(candidates.length * 3 * runsPerMonth(policy.schedule))
        : policy.metricsApi;
    out.scope.metricsApi = api;
    // CPU first; network (and GPU) only for instances whose CPU is low: a busy CPU decides on its own. The second
    // read follows each first batch at once, so an instance is judged (and its datapoints let go) batch by batch.
    try {
      const first = options.fullMetrics ? candidates.map(metricsRequestFor) : candidates.map(firstStageRequest);
      for await (const done of metrics.stream(first, from, now, { api })) {
        const later = new Map<string, InstanceMetrics>();
        const secondStage: MetricsRequest[] = [];
        for (const [id, m] of done) {
          const i = byId.get(id);
          if (!i) continue;
          const more = options.fullMetrics ? null : secondStageRequest(i, m, policy, now);
          if (more) {
            later.set(id, m);
            secondStage.push(more);
          } else judge(i, m);
        }
        for await (const rest of metrics.stream(secondStage, from, now, { api })) {
          for (const [id, m] of rest) {
            const i = byId.get(id);
            if (i) judge(i, { ...later.get(id), ...m });
          }
        }
      }
    } catch (err) {
      // CloudWatch unavailable: the instances not judged yet have no metrics, so none of them is idle this run.
      fail(`cloudwatch:${out.scope.metricsApi ?? 'GetMetricData'}`, err);
    }
  }
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
  // In DescribeInstances order, whatever order the metrics came in.
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
      .map((d) => ({ instanceId: d.instanceId, hibernate: d.hibernate, reason: stopReasonOf(d) })),
    { by: 'sweep', now },
  );
  out.stopped.push(...stops.stopped);
  // Stopped by someone else between describe and stop: not ours to claim (no stop record, no savings).
  out.cleared.push(...stops.alreadyStopped);
  failed(stops.errors);
}

/** The stop-reason tag value of a sweep decision (its rule's measured reason, within the tag limit). */
export function stopReason(d: Decision): string {
  return stopReasonTag(stopReasonOf(d));
}
