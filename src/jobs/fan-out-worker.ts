/**
 * The sweep-worker's use case (docs/scale.md, "Fan-out"): one target message of the fan-out in, the same sweep of that
 * account x region as a single invocation does (runSweep with one target, then quiet hours' morning start), its usage
 * for the month ledger, and a compact result out. No alerts and no usage record here: the scheduled sweep's summary
 * sends and records them once for the whole run.
 */
import type { AwsTarget } from '../aws/clients.js';
import type { FanOutQueues } from '../aws/fan-out-queue.js';
import type { SweepServices } from '../aws/services.js';
import { describeError } from '../core/errors.js';
import {
  FAN_OUT_VERSION,
  isPassingFailure,
  parseTargetMessage,
  RETRY_BACKOFF_SECONDS,
  RESULT_MAX_BYTES,
  resultBody,
  targetLabel,
  TARGET_ATTEMPTS,
  type TargetMessage,
  type TargetResult,
} from '../core/fan-out.js';
import type { Instance } from '../core/instance.js';
import type { Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import type { Prices } from '../core/prices.js';
import { sweepIntervalHours, usageSinceLastSweep } from '../core/usage.js';
import { runMorningStart } from './morning-start.js';
import { runSweep } from './sweep.js';
import { memberRoleFor } from './targets.js';

/** What the worker needs: the policy, the home account, the sweep's services and the bundled prices. */
export interface FanOutWorkerDeps {
  policy: Policy;
  /** The home region (and emulator endpoint); targets without an account are swept here with the function's role. */
  home: AwsTarget;
  /** The stack's own account id (a target naming it is the home account). */
  homeAccount: string;
  services: SweepServices;
  prices: Prices;
}

/** What sweeping one target message gave: a result to send, or a request to try again later. */
export type WorkerOutcome = { result: TargetResult } | { retry: string };

/**
 * Sweeps the target of one message (attempt = the message's receive count) at `now`. A member account's role is
 * assumed first (a failure is the target's failed scope, as in a single invocation). When the whole target failed for
 * a passing reason (throttling, 5xx, a timeout) before the last attempt, nothing was changed and it asks for a retry;
 * otherwise it returns the result, failures included.
 */
export async function sweepTargetMessage(
  deps: FanOutWorkerDeps,
  message: TargetMessage,
  attempt: number,
  now: Date,
): Promise<WorkerOutcome> {
  const { policy, services } = deps;
  const target = await resolveTarget(deps, message);
  const observed: Instance[] = [];
  const report = await runSweep({
    policy,
    now,
    targets: [target],
    services,
    homeRegion: deps.home.region,
    onObserved: (instance) => observed.push(instance),
    ...(message.context ? { context: message.context } : {}),
  });
  const scope = report.scopes[0] ?? { region: target.region, instances: 0, ok: false, error: 'not swept' };
  if (!scope.ok && attempt < TARGET_ATTEMPTS && isPassingFailure(scope.error ?? '')) {
    return { retry: scope.error ?? 'failed' };
  }
  const morning = policy.quietHours.morningStart
    ? await runMorningStart({ policy, now, targets: [target], services, dryRun: report.dryRun })
    : undefined;
  let usage: TargetResult['usage'];
  if (!message.extraRun && !report.dryRun && observed.length > 0) {
    const at = new Date(message.at);
    try {
      const prices = await deps.prices.many(
        observed.map((i) => ({ instanceType: i.instanceType, region: i.region })),
      );
      usage = usageSinceLastSweep(
        observed,
        prices,
        policy.tags.owner,
        sweepIntervalHours(policy.schedule),
        at,
      );
    } catch (err) {
      report.errors.push({ region: target.region, operation: 'prices (usage)', message: describeError(err) });
    }
  }
  return {
    result: {
      v: FAN_OUT_VERSION,
      kind: 'result',
      runId: message.runId,
      at: message.at,
      index: message.index,
      target: message.target,
      attempt,
      dryRun: report.dryRun,
      scope,
      decisions: report.decisions.filter((d) => d.action !== 'none'),
      warned: report.warned,
      stopped: report.stopped,
      cleared: report.cleared,
      postponed: report.postponed,
      errors: [...report.errors, ...(morning?.errors ?? [])],
      ...(usage ? { usage } : {}),
      ...(morning && (morning.report.decisions.length > 0 || morning.report.started.length > 0)
        ? { morningStart: morning.report }
        : {}),
    },
  };
}

/**
 * The AwsTarget of a message: the home account with the function's own role, or a member account with its member
 * role's credentials (assumed now, so that a failure is reported as sts:AssumeRole). An account the policy does not
 * name is never swept.
 */
async function resolveTarget(deps: FanOutWorkerDeps, message: TargetMessage): Promise<AwsTarget> {
  const { region, account } = message.target;
  if (account === undefined || account === deps.homeAccount) return { ...deps.home, region };
  const roleName = memberRoleFor(deps.policy, account);
  if (roleName === undefined) {
    return {
      region,
      account,
      unavailable: {
        operation: 'fan-out',
        message: `account ${account} is not in the policy's accounts and organization is false; not swept`,
      },
    };
  }
  if (!deps.services.accounts) {
    return {
      region,
      account,
      unavailable: { operation: 'sts:AssumeRole', message: 'no STS access configured' },
    };
  }
  const access = deps.services.accounts(deps.home);
  try {
    await access.credentials.forAccount(account, roleName);
  } catch (err) {
    return { region, account, unavailable: { operation: 'sts:AssumeRole', message: describeError(err) } };
  }
  return { ...deps.home, region, account, credentials: access.credentials.provider(account, roleName) };
}

/** The part of Lambda's SQS event the worker reads. */
export interface SqsEvent {
  Records: {
    messageId: string;
    receiptHandle: string;
    body: string;
    attributes?: { ApproximateReceiveCount?: string };
  }[];
}

/** Lambda's answer to an SQS batch (ReportBatchItemFailures): the messages to receive again, the rest are deleted. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** The queues the worker answers on: its results, and a target's retry after a backoff. */
export type WorkerQueues = Pick<FanOutQueues, 'sendResults' | 'retryTargetLater'>;

/**
 * Sweeps one SQS batch of target messages at once (sweepTargetMessage each), sends their results in as few
 * SendMessageBatch calls as fit, and returns the messages to receive again: a target whose whole sweep failed for a
 * passing reason (after a backoff), one whose result could not be sent, one that threw. A message that is not a
 * target of this stack is logged and dropped.
 */
export async function sweepTargetBatch(
  deps: FanOutWorkerDeps,
  queues: WorkerQueues,
  records: SqsEvent['Records'],
  now: Date,
  log: Logger,
): Promise<SqsBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  const sent: { messageId: string; body: string; target: string }[] = [];
  await Promise.all(
    records.map(async (record) => {
      let message: ReturnType<typeof parseTargetMessage>;
      try {
        message = parseTargetMessage(record.body);
      } catch (err) {
        log({ level: 'error', message: `sweep-worker: dropped a message: ${describeError(err)}` });
        return;
      }
      const attempt = Number(record.attributes?.ApproximateReceiveCount ?? 1) || 1;
      const label = targetLabel(message.target);
      try {
        const outcome = await sweepTargetMessage(deps, message, attempt, now);
        if ('retry' in outcome) {
          log({
            level: 'warn',
            message: `sweep-worker: ${label} failed (attempt ${attempt}), again later: ${outcome.retry}`,
          });
          await queues
            .retryTargetLater(record.receiptHandle, RETRY_BACKOFF_SECONDS * attempt)
            .catch(() => undefined);
          failures.push({ itemIdentifier: record.messageId });
          return;
        }
        const r = outcome.result;
        const json = JSON.stringify(r);
        const body = resultBody(r, RESULT_MAX_BYTES, json);
        // A result sent whole reaches the planner, whose log has it (src/handlers/sweep.ts: every stop, the rest
        // counted): here only its counts and errors. A result cut to fit the message is logged whole, as the
        // summary says ("the sweep-worker log has them"). Log ingestion is most of a big fan-out's bill.
        const whole = body === json;
        log({
          level: r.errors.length > 0 ? 'error' : 'info',
          message: `sweep-worker: ${label} run ${r.runId}: ${r.scope.instances} seen, ${r.warned.length} warned, ${r.stopped.length} stopped, ${r.errors.length} errors`,
          ...(whole ? { scope: r.scope, errors: r.errors } : { result: r }),
        });
        sent.push({ messageId: record.messageId, body, target: label });
      } catch (err) {
        log({
          level: 'error',
          message: `sweep-worker: ${label} failed (attempt ${attempt}): ${describeError(err)}`,
        });
        failures.push({ itemIdentifier: record.messageId });
      }
    }),
  );
  if (sent.length > 0) {
    const failed = await queues.sendResults(sent.map((s) => s.body));
    for (const [k, why] of failed) {
      const s = sent[k];
      if (!s) continue;
      log({ level: 'error', message: `sweep-worker: result of ${s.target} not sent, again later: ${why}` });
      failures.push({ itemIdentifier: s.messageId });
    }
  }
  return { batchItemFailures: failures };
}
