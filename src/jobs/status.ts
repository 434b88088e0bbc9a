import type { StackInspector } from '../aws/stack-status.js';
import type { UsageStore } from '../aws/usage-store.js';
import { selfCostFor } from '../core/self-cost.js';
import { monthBounds } from '../core/usage.js';
import { describeError } from '../core/errors.js';
import { intervalMs } from '../core/schedule.js';
import {
  judgeStatus,
  type LocalPolicy,
  lastRunFromLog,
  type ReadFailure,
  STACK_FUNCTIONS,
  type StackFacts,
  type StackStatus,
} from '../core/status.js';

/** What `status` looks at: which stack, when, and the local policy to compare with. */
export interface StatusOptions {
  service: string;
  stage: string;
  region: string;
  account?: string;
  now: Date;
  local: LocalPolicy;
  timeZone: string;
  /** The month's counters (SSM), for what the stack itself costs at this month's fleet; absent = not shown. */
  usage?: Pick<UsageStore, 'monthTotals'>;
}

/** How far back the logs are searched for a scheduled function's last run: two intervals and an hour, 3 h to 8 days. */
function logWindowMs(schedule: string | undefined, fallback: number): number {
  const interval = schedule ? intervalMs(schedule) : fallback;
  return Math.min(8 * 86_400_000, Math.max(3 * 3_600_000, 2 * interval + 3_600_000));
}

/** Runs `read`, turning a failure into a ReadFailure the status line shows ("AccessDenied: ..."). */
async function attempt<T>(read: () => Promise<T>): Promise<T | ReadFailure> {
  try {
    return await read();
  } catch (err) {
    return { failed: describeError(err) };
  }
}

const failedRead = (v: unknown): v is ReadFailure =>
  typeof v === 'object' && v !== null && typeof (v as ReadFailure).failed === 'string';

/**
 * Is the deployed stack `<service>-<stage>` working? Reads the stack, its functions, the alert topic's
 * subscriptions, the schedules, the last sweep and digest from their logs (the summary line each run writes: what
 * it did and its errors, which metrics cannot say) and the alarms in ALARM, then judges them (core/status.ts). A
 * part that cannot be read is shown as such; the others are still read.
 */
export async function stackStatus(inspector: StackInspector, options: StatusOptions): Promise<StackStatus> {
  const { now } = options;
  const stackName = `${options.service}-${options.stage}`;
  const base = {
    stackName,
    region: options.region,
    ...(options.account ? { account: options.account } : {}),
  };
  const stack = await attempt(() => inspector.stack(stackName));
  const empty: StackFacts = {
    ...base,
    stack: failedRead(stack)
      ? stack
      : stack && {
          status: stack.status,
          ...(stack.updatedAt ? { updatedAt: stack.updatedAt } : {}),
          ...(stack.reason ? { reason: stack.reason } : {}),
        },
    functions: {},
    subscriptions: undefined,
    sweepRule: undefined,
    digestRule: undefined,
    lastSweep: undefined,
    lastDigest: undefined,
    logWindowMs: { sweep: 0, digest: 0 },
    alarms: [],
  };
  if (failedRead(stack) || !stack || stack.status === 'DELETE_COMPLETE') {
    return judgeStatus(empty, options.local, now, options.timeZone);
  }

  const resources = await attempt(() => inspector.resources(stackName));
  const physical = (logicalId: string, fallback: string): string =>
    (!failedRead(resources) && resources.find((r) => r.logicalId === logicalId)?.physicalId) || fallback;
  const functionName = (name: string, logicalId: string) => physical(logicalId, `${stackName}-${name}`);

  const functions: StackFacts['functions'] = {};
  await Promise.all(
    STACK_FUNCTIONS.map(async ({ name, logicalId }) => {
      functions[name] = await attempt(() => inspector.functionFacts(functionName(name, logicalId)));
    }),
  );
  const rule = async (logicalId: string) => {
    if (failedRead(resources)) return resources;
    const name = resources.find((r) => r.logicalId === logicalId)?.physicalId;
    return name ? attempt(() => inspector.rule(name)) : undefined;
  };
  const [sweepRule, digestRule] = await Promise.all([
    rule('SweepEventsRuleSchedule1'),
    rule('DigestEventsRuleSchedule1'),
  ]);
  const expression = (r: typeof sweepRule) => (r && !failedRead(r) ? r.expression : undefined);
  const windows = {
    sweep: logWindowMs(expression(sweepRule), 3_600_000),
    digest: logWindowMs(expression(digestRule), 86_400_000),
  };
  const topicArn = stack.outputs.AlertTopicArn;
  const [subscriptions, sweepLog, digestLog, alarms] = await Promise.all([
    topicArn ? attempt(() => inspector.subscriptions(topicArn)) : Promise.resolve(undefined),
    attempt(() =>
      inspector.runLog(
        functionName('sweep', 'SweepLambdaFunction'),
        new Date(now.getTime() - windows.sweep),
        'sweep:',
      ),
    ),
    attempt(() =>
      inspector.runLog(
        functionName('digest', 'DigestLambdaFunction'),
        new Date(now.getTime() - windows.digest),
        'digest:',
      ),
    ),
    attempt(() => inspector.alarmsInAlarm(`${stackName}-`)),
  ]);
  const ownCost = options.usage
    ? await attempt(async () => {
        const start = monthBounds(now).start;
        const month = await (options.usage as Pick<UsageStore, 'monthTotals'>).monthTotals(start, now);
        const hours = Math.max(1, (now.getTime() - start.getTime()) / 3_600_000);
        return selfCostFor({
          instances: Math.round(month.instanceHours / hours),
          owners: Object.keys(month.byOwner).length,
          schedule: expression(sweepRule) ?? 'rate(1 hour)',
          digestSchedule: expression(digestRule) ?? 'cron(0 8 * * ? *)',
          customerManagedKey: stack.parameters.TopicKey === 'true',
        });
      })
    : undefined;
  const facts: StackFacts = {
    ...empty,
    ...(ownCost ? { ownCost } : {}),
    functions,
    subscriptions,
    sweepRule,
    digestRule,
    lastSweep: failedRead(sweepLog) ? sweepLog : lastRunFromLog(sweepLog, 'sweep'),
    lastDigest: failedRead(digestLog) ? digestLog : lastRunFromLog(digestLog, 'digest'),
    logWindowMs: windows,
    alarms,
  };
  return judgeStatus(facts, options.local, now, options.timeZone);
}
