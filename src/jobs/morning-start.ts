/**
 * Quiet hours' morning start (policy quietHours.morningStart, off by default): after a quiet period ends, start again
 * the instances the sweep stopped for it, and only those (src/core/quiet-hours.ts morningStartDecision). Run by
 * sweepNow() after the sweep, over the same targets; a dry run (plan) decides and changes nothing.
 */
import type { AwsTarget } from '../aws/clients.js';
import { mapBounded } from '../aws/clients.js';
import type { SweepServices } from '../aws/services.js';
import { describeError } from '../core/errors.js';
import { instanceRef } from '../core/instance.js';
import type { MorningStartItem, MorningStartReport } from '../core/morning-start.js';
import type { Policy } from '../core/policy.js';
import { morningStartDecision } from '../core/quiet-hours.js';
import type { RunError } from '../core/report.js';
import { type StartedBy, startResources } from './enforce.js';

/** Who started an instance again (tag cost-watchdog:started-by). */
export const STARTED_BY_MORNING_START: StartedBy = 'morning-start';

/** Inputs of one morning start. */
export interface MorningStartOptions {
  policy: Policy;
  now: Date;
  targets: AwsTarget[];
  services: Pick<SweepServices, 'restarts'>;
  /** Decide only: start and tag nothing. */
  dryRun: boolean;
}

/**
 * Looks at every stopped instance whose stop record says quiet hours stopped it, decides for each, and (unless a dry
 * run) starts those that qualify and records it (tags started-at and started-by). Failures are errors in the
 * result; one failing target or instance never stops the others.
 */
export async function runMorningStart(
  options: MorningStartOptions,
): Promise<{ report: MorningStartReport; errors: RunError[] }> {
  const { policy, now, services } = options;
  const report: MorningStartReport = { decisions: [], started: [] };
  const errors: RunError[] = [];
  const restarts = services.restarts;
  if (!policy.quietHours.morningStart || !restarts) return { report, errors };
  const results = await mapBounded(options.targets, policy.concurrency, async (target) => {
    const where = { region: target.region, ...(target.account ? { account: target.account } : {}) };
    const out = { decisions: [] as MorningStartItem[], started: [] as string[], errors: [] as RunError[] };
    if (target.unavailable) return out;
    const port = restarts(target);
    try {
      const stopped = await port.listStoppedFor('quiet-hours');
      out.decisions = stopped.map((i) => ({
        ...instanceRef(i, policy.tags.owner),
        ...morningStartDecision(i, policy, now),
      }));
    } catch (err) {
      out.errors.push({
        ...where,
        operation: 'ec2:DescribeInstances (morning start)',
        message: describeError(err),
      });
      return out;
    }
    const ids = out.decisions.filter((d) => d.start).map((d) => d.instanceId);
    if (options.dryRun || ids.length === 0) return out;
    let started: Awaited<ReturnType<typeof startResources>>;
    try {
      started = await startResources(port, ids, { by: STARTED_BY_MORNING_START, now });
    } catch (err) {
      out.errors.push({ ...where, operation: 'ec2:StartInstances', message: describeError(err) });
      return out;
    }
    out.started.push(...started.started);
    for (const e of started.errors) {
      out.errors.push({
        ...where,
        ...(e.instanceId ? { instanceId: e.instanceId } : {}),
        operation: `ec2:${e.operation}`,
        message: e.message,
      });
    }
    return out;
  });
  for (const r of results) {
    report.decisions.push(...r.decisions);
    report.started.push(...r.started);
    errors.push(...r.errors);
  }
  return { report, errors };
}
