/**
 * The one place that changes a watched resource: writes and clears the warning tags, and stops resources (with
 * hibernation where they were launched with it), recording when, why (one stop-reason, within the tag limit) and
 * by whom, then clearing the warning; starts again what quiet hours stopped (morning start), recording it. Used by the sweep, the launch guard, the keep/stop links and deprovision.
 * Never terminates anything; one failing resource never stops the others.
 */
import { mapBounded } from '../aws/clients.js';
import { stopReasonTag } from '../core/evaluate.js';
import type { FleetPort, RestartPort } from '../core/ports.js';
import { TAGS } from '../core/policy.js';
import type { Rule } from '../core/rules.js';

/** Who stops a resource (tag cost-watchdog:stopped-by). */
export type StoppedBy = 'sweep' | 'launch-guard' | 'link' | 'deprovision';

/** One resource to stop and why, in words (the stop-reason tag). */
export interface StopOrder {
  instanceId: string;
  hibernate: boolean;
  reason: string;
  /** The rule the sweep stops it for (tag stop-rule: what quiet hours' morning start and its IAM condition read). */
  rule?: Rule;
}

/** A failed call for one resource (or a whole batch); the others went ahead. */
export interface EnforceError {
  instanceId?: string;
  operation: string;
  message: string;
}

/** What stopResources() did. */
export interface StopOutcome {
  /** Stopped now, by this call. */
  stopped: string[];
  /** Already stopped by someone else between the describe and the stop: not ours to claim, warning removed. */
  alreadyStopped: string[];
  /** Not stopped because stop protection is on (or could not be checked): only with `checkProtection`. */
  refused: { instanceId: string; why: string }[];
  errors: EnforceError[];
}

/** Stop-protection lookups kept in flight at once. */
export const PROTECTION_CHECKS_IN_PARALLEL = 10;

/**
 * Looks up stop protection of each id, a few at a time: `true` / `false`, or the error when it could not be
 * checked (never taken as "off").
 */
export async function checkStopProtection(
  fleet: Pick<FleetPort, 'isStopProtected'>,
  instanceIds: readonly string[],
): Promise<Map<string, boolean | { error: unknown }>> {
  const results = await mapBounded(instanceIds, PROTECTION_CHECKS_IN_PARALLEL, async (id) => {
    try {
      return await fleet.isStopProtected(id);
    } catch (error) {
      return { error };
    }
  });
  return new Map(instanceIds.map((id, k) => [id, results[k] as boolean | { error: unknown }]));
}

/**
 * Stops resources and records it: StopInstances (batched, hibernating those launched with it), then per stopped
 * resource the tags stopped-at, stop-reason, stopped-by (and stop-rule when the order names one), then the warning
 * tags removed. With `checkProtection` stop protection is looked up first and protected (or unknown) resources are
 * refused, not stopped.
 */
export async function stopResources(
  fleet: Pick<FleetPort, 'stop' | 'tag' | 'untag' | 'isStopProtected'>,
  orders: readonly StopOrder[],
  options: { by: StoppedBy; now: Date; checkProtection?: boolean },
): Promise<StopOutcome> {
  const out: StopOutcome = { stopped: [], alreadyStopped: [], refused: [], errors: [] };
  let todo = [...orders];
  if (options.checkProtection && todo.length > 0) {
    const checked = await checkStopProtection(
      fleet,
      todo.map((o) => o.instanceId),
    );
    todo = todo.filter((o) => {
      const c = checked.get(o.instanceId);
      if (c === false) return true;
      out.refused.push({
        instanceId: o.instanceId,
        why: c === true ? 'stop protection is on' : 'stop protection could not be checked',
      });
      if (c !== true && c !== undefined)
        out.errors.push(errorOf('DescribeInstanceAttribute', c.error, o.instanceId));
      return false;
    });
  }
  const reasons = new Map(todo.map((o) => [o.instanceId, o.reason]));
  const rules = new Map(todo.map((o) => [o.instanceId, o.rule]));
  for (const hibernate of [false, true]) {
    const ids = todo.filter((o) => o.hibernate === hibernate).map((o) => o.instanceId);
    if (ids.length === 0) continue;
    const stoppedNow: string[] = [];
    for (const r of await fleet.stop(ids, hibernate)) {
      if (r.ok && (r.previousState === 'stopped' || r.previousState === 'stopping'))
        out.alreadyStopped.push(r.instanceId);
      else if (r.ok) stoppedNow.push(r.instanceId);
      else out.errors.push(failure('StopInstances', r.instanceId, r.error));
    }
    out.stopped.push(...stoppedNow);
    // Record why; if this fails the resource is still stopped and the outcome says both.
    for (const id of stoppedNow) {
      const rule = rules.get(id);
      const tags = {
        [TAGS.stoppedAt]: options.now.toISOString(),
        [TAGS.stopReason]: stopReasonTag(reasons.get(id) ?? ''),
        [TAGS.stoppedBy]: options.by,
        // Every sweep stop names its rule, so an older quiet-hours record never outlives a later stop by the sweep.
        ...(rule !== undefined ? { [TAGS.stopRule]: rule } : {}),
      };
      for (const r of await fleet.tag([id], tags)) {
        if (!r.ok) out.errors.push(failure('CreateTags (stop reason)', id, r.error));
      }
    }
  }
  const done = [...out.stopped, ...out.alreadyStopped];
  if (done.length > 0) {
    for (const r of await fleet.untag(done, [TAGS.warnedAt, TAGS.warnRule])) {
      if (!r.ok) out.errors.push(failure('DeleteTags (after stop)', r.instanceId, r.error));
    }
  }
  return out;
}

/** Who started a resource again (tag cost-watchdog:started-by): only quiet hours' morning start does. */
export type StartedBy = 'morning-start';

/**
 * Starts resources again and records it (tags started-at and started-by): only quiet hours' morning start calls it,
 * for the resources it found quiet hours stopped (src/jobs/morning-start.ts). One failing resource never stops the
 * others.
 */
export async function startResources(
  fleet: Pick<RestartPort, 'start' | 'tag'>,
  instanceIds: readonly string[],
  options: { by: StartedBy; now: Date },
): Promise<{ started: string[]; errors: EnforceError[] }> {
  const out = { started: [] as string[], errors: [] as EnforceError[] };
  if (instanceIds.length === 0) return out;
  for (const r of await fleet.start([...instanceIds])) {
    if (r.ok) out.started.push(r.instanceId);
    else out.errors.push(failure('StartInstances', r.instanceId, r.error));
  }
  if (out.started.length === 0) return out;
  const tags = { [TAGS.startedAt]: options.now.toISOString(), [TAGS.startedBy]: options.by };
  for (const r of await fleet.tag(out.started, tags)) {
    if (!r.ok) out.errors.push(failure('CreateTags (started)', r.instanceId, r.error));
  }
  return out;
}

/**
 * Writes new warnings (tags warned-at = now and warn-rule), one CreateTags call per rule for many resources.
 * Returns the ids tagged and the failures.
 */
export async function writeWarnings(
  fleet: Pick<FleetPort, 'tag'>,
  warnings: readonly { instanceId: string; rule: Rule }[],
  now: Date,
): Promise<{ warned: string[]; errors: EnforceError[] }> {
  const out = { warned: [] as string[], errors: [] as EnforceError[] };
  const byRule = new Map<Rule, string[]>();
  for (const w of warnings) byRule.set(w.rule, [...(byRule.get(w.rule) ?? []), w.instanceId]);
  for (const [rule, ids] of byRule) {
    for (const r of await fleet.tag(ids, { [TAGS.warnedAt]: now.toISOString(), [TAGS.warnRule]: rule })) {
      if (r.ok) out.warned.push(r.instanceId);
      else out.errors.push(failure('CreateTags (warning)', r.instanceId, r.error));
    }
  }
  return out;
}

/** Removes the warning tags (the warning no longer applies, or was answered). */
export async function clearWarnings(
  fleet: Pick<FleetPort, 'untag'>,
  instanceIds: readonly string[],
  operation = 'DeleteTags (clear warning)',
): Promise<{ cleared: string[]; errors: EnforceError[] }> {
  const out = { cleared: [] as string[], errors: [] as EnforceError[] };
  if (instanceIds.length === 0) return out;
  for (const r of await fleet.untag([...instanceIds], [TAGS.warnedAt, TAGS.warnRule])) {
    if (r.ok) out.cleared.push(r.instanceId);
    else out.errors.push(failure(operation, r.instanceId, r.error));
  }
  return out;
}

/** A resource the call answered for but failed, with the call's error or "failed". */
function failure(operation: string, instanceId: string, error: string | undefined): EnforceError {
  return { instanceId, operation, message: error ?? 'failed' };
}

function errorOf(operation: string, err: unknown, instanceId?: string): EnforceError {
  const message =
    err instanceof Error
      ? err.name && err.name !== 'Error'
        ? `${err.name}: ${err.message}`
        : err.message
      : String(err);
  return { ...(instanceId ? { instanceId } : {}), operation, message };
}
