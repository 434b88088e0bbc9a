/**
 * `cost-watchdog status`: the judgement of a deployed stack from the facts read about it (pure: the clock and
 * the facts are arguments), and its one-screen rendering.
 */
import { formatLocalTime } from './action-links.js';
import { intervalMs, nextRun } from './schedule.js';
import type { SelfCost } from './self-cost.js';
import { cleanLine } from './text.js';

/** The functions of the stack: logical id in the template, name in serverless.yml. */
export const STACK_FUNCTIONS = [
  { logicalId: 'SweepLambdaFunction', name: 'sweep' },
  { logicalId: 'LaunchDashguardLambdaFunction', name: 'launch-guard' },
  { logicalId: 'DigestLambdaFunction', name: 'digest' },
  { logicalId: 'ProvisionLambdaFunction', name: 'provision' },
  { logicalId: 'ActionsLambdaFunction', name: 'actions' },
] as const;

/** A read that failed (AccessDenied, throttled, ...): the check says so instead of guessing. */
export interface ReadFailure {
  failed: string;
}

/** One function as Lambda describes it. */
export interface FunctionFacts {
  name: string;
  state?: string;
  lastUpdateStatus?: string;
  policySha256?: string;
}

/** One subscription of the alert topic. */
export interface SubscriptionFacts {
  protocol: string;
  endpoint: string;
  pending: boolean;
  /** The owner of a student subscription (its filter policy); undefined for the admin's (no owner filter). */
  owner?: string;
}

/** The last run of a scheduled function, as its log tells it. */
export interface RunFacts {
  at: Date;
  /** `ok`: finished without errors; `errors`: finished, with errors; `failed`: threw; `timeout`: timed out. */
  outcome: 'ok' | 'errors' | 'failed' | 'timeout';
  /** One line: what the run did ("14 seen, 1 warned, 0 stopped") or why it failed. */
  summary: string;
  errors: string[];
}

/** A schedule rule of the stack. */
export interface RuleFacts {
  expression: string;
  enabled: boolean;
}

/** An alarm of the stack in the ALARM state. */
export interface AlarmFacts {
  name: string;
  since?: Date;
  reason: string;
}

/** Everything status reads about a stack. */
export interface StackFacts {
  stackName: string;
  region: string;
  account?: string;
  stack: { status: string; updatedAt?: Date; reason?: string } | undefined | ReadFailure;
  functions: Record<string, FunctionFacts | undefined | ReadFailure>;
  subscriptions: SubscriptionFacts[] | ReadFailure | undefined;
  sweepRule: RuleFacts | undefined | ReadFailure;
  digestRule: RuleFacts | undefined | ReadFailure;
  lastSweep: RunFacts | undefined | ReadFailure;
  lastDigest: RunFacts | undefined | ReadFailure;
  /** How far back the logs were searched for the last runs (ms). */
  logWindowMs: { sweep: number; digest: number };
  alarms: AlarmFacts[] | ReadFailure;
  /** What the stack itself costs a month at this month's fleet (src/core/self-cost.ts); absent = not read. */
  ownCost?: SelfCost | ReadFailure;
}

/** What the local watchdog.yml is, to compare with the deployed one. */
export interface LocalPolicy {
  /** Where it is: ./watchdog.yml, the --policy file, or "no watchdog.yml here". */
  source: string;
  /** SHA-256 of the file (hex), or "none" when there is no file (what serverless-params.cjs packages then). */
  sha256: string;
  dryRun?: boolean;
  /** Why the local policy could not be read, if it could not. */
  problem?: string;
}

/** One line of the status screen. */
export interface StatusCheck {
  check:
    | 'stack'
    | 'functions'
    | 'policy'
    | 'email'
    | 'last sweep'
    | 'next sweep'
    | 'last digest'
    | 'alarms'
    | 'own cost';
  state: 'ok' | 'attention' | 'info';
  text: string;
}

/** The status of a stack: each check, and whether all is well. */
export interface StackStatus {
  stackName: string;
  region: string;
  account?: string;
  at: string;
  healthy: boolean;
  checks: StatusCheck[];
}

const isFailure = (v: unknown): v is ReadFailure =>
  typeof v === 'object' && v !== null && typeof (v as ReadFailure).failed === 'string';

function ago(at: Date, now: Date): string {
  const minutes = Math.round((now.getTime() - at.getTime()) / 60_000);
  if (minutes < 0) return `in ${formatDuration(-minutes)}`;
  return minutes < 1 ? 'just now' : `${formatDuration(minutes)} ago`;
}

function formatDuration(minutes: number): string {
  if (minutes < 90) return `${minutes} min`;
  const hours = minutes / 60;
  return hours < 48 ? `${Math.round(hours)} h` : `${Math.round(hours / 24)} days`;
}

const hoursOf = (ms: number) => `${Math.round(ms / 3_600_000)} h`;

/** The deploy command, for the lines that need a redeploy. */
const DEPLOY = 'npx serverless deploy --param alertEmail=you@example.edu';

/**
 * Judges the facts read about a stack: each check is ok, needs attention (with what to do), or is information.
 * `timeZone` is the policy's, for every time a person reads.
 */
export function judgeStatus(facts: StackFacts, local: LocalPolicy, now: Date, timeZone: string): StackStatus {
  const checks: StatusCheck[] = [];
  const add = (check: StatusCheck['check'], state: StatusCheck['state'], text: string) =>
    checks.push({ check, state, text: cleanLine(text, 400) });
  const when = (at: Date) => `${formatLocalTime(at, timeZone)} (${ago(at, now)})`;
  const result = (): StackStatus => ({
    stackName: facts.stackName,
    region: facts.region,
    ...(facts.account ? { account: facts.account } : {}),
    at: now.toISOString(),
    healthy: checks.every((c) => c.state !== 'attention'),
    checks,
  });

  // The stack
  const stack = facts.stack;
  if (isFailure(stack)) {
    add('stack', 'attention', `cannot read the stack ${facts.stackName}: ${stack.failed}`);
    return result();
  }
  if (!stack || stack.status === 'DELETE_COMPLETE') {
    add(
      'stack',
      'attention',
      `no stack ${facts.stackName} in ${facts.region}: deploy it (${DEPLOY}), or name the one you deployed with --stage / --region`,
    );
    return result();
  }
  const deployed = stack.updatedAt ? `, deployed ${when(stack.updatedAt)}` : '';
  if (/_COMPLETE$/.test(stack.status) && !/ROLLBACK|DELETE/.test(stack.status)) {
    add('stack', 'ok', `${facts.stackName}: ${stack.status}${deployed}`);
  } else if (/IN_PROGRESS$/.test(stack.status)) {
    add(
      'stack',
      'attention',
      `${facts.stackName}: ${stack.status}: a deploy or remove is running; run status again when it is done`,
    );
  } else {
    add(
      'stack',
      'attention',
      `${facts.stackName}: ${stack.status}${stack.reason ? ` (${stack.reason})` : ''}: the last deploy failed; run \`npx serverless deploy\` again and read its error`,
    );
  }

  // The functions
  const missing: string[] = [];
  const unwell: string[] = [];
  const unread: string[] = [];
  for (const { name } of STACK_FUNCTIONS) {
    const f = facts.functions[name];
    if (isFailure(f)) unread.push(`${name} (${f.failed})`);
    else if (!f) missing.push(name);
    else if ((f.state && f.state !== 'Active') || f.lastUpdateStatus === 'Failed') {
      unwell.push(
        `${name} (${f.state ?? '?'}${f.lastUpdateStatus === 'Failed' ? ', last update failed' : ''})`,
      );
    }
  }
  if (missing.length + unwell.length + unread.length === 0) {
    add('functions', 'ok', STACK_FUNCTIONS.map((f) => f.name).join(', '));
  } else {
    const parts = [
      missing.length ? `missing: ${missing.join(', ')}` : '',
      unwell.length ? `not active: ${unwell.join(', ')}` : '',
      unread.length ? `cannot read: ${unread.join(', ')}` : '',
    ].filter(Boolean);
    add('functions', 'attention', `${parts.join('; ')}: run \`npx serverless deploy\` again`);
  }

  // The policy: the deployed copy against the local file
  const sweep = facts.functions.sweep;
  if (local.problem) {
    add('policy', 'attention', `${local.source}: ${local.problem}`);
  } else if (isFailure(sweep) || !sweep) {
    add(
      'policy',
      'info',
      `cannot compare ${local.source} with the deployed policy (sweep function not readable)`,
    );
  } else if (sweep.policySha256 === undefined) {
    add(
      'policy',
      'info',
      `the functions were deployed before policy hashes: redeploy once to compare with ${local.source}`,
    );
  } else if (sweep.policySha256 === local.sha256) {
    add(
      'policy',
      'ok',
      `deployed policy = ${local.source}${local.dryRun ? ' (dryRun: true: nothing is stopped; DRY RUN reports go to the admin)' : ''}`,
    );
  } else {
    add(
      'policy',
      'attention',
      `${local.source} changed since deploy: run \`npx serverless deploy\` (the functions run the deployed copy)`,
    );
  }

  // Email subscriptions
  const subs = facts.subscriptions;
  if (isFailure(subs))
    add('email', 'attention', `cannot read the alert topic's subscriptions: ${subs.failed}`);
  else if (!subs) add('email', 'attention', 'the stack has no alert topic (output AlertTopicArn): redeploy');
  else {
    const emails = subs.filter((s) => s.protocol === 'email' || s.protocol === 'email-json');
    const admin = emails.filter((s) => !s.pending && s.owner === undefined);
    const pending = emails.filter((s) => s.pending);
    const owners = emails.filter((s) => !s.pending && s.owner !== undefined);
    const others = subs.length - emails.length;
    const rest = [
      owners.length ? `${owners.length} student subscription(s) confirmed` : '',
      pending.length
        ? `${pending.length} pending (${pending
            .map((s) => s.endpoint)
            .slice(0, 5)
            .join(', ')}${pending.length > 5 ? ', ...' : ''})`
        : '',
      others
        ? `${others} other (${[...new Set(subs.filter((s) => !emails.includes(s)).map((s) => s.protocol))].join(', ')})`
        : '',
    ].filter(Boolean);
    if (admin.length > 0) {
      add(
        'email',
        'ok',
        `admin ${admin.map((s) => s.endpoint).join(', ')} confirmed${rest.length ? `; ${rest.join('; ')}` : ''}`,
      );
    } else {
      add(
        'email',
        'attention',
        `no confirmed admin email: alerts reach nobody. Open the email "AWS Notification - Subscription Confirmation" (check spam) and click "Confirm subscription"${rest.length ? `; ${rest.join('; ')}` : ''}`,
      );
    }
  }

  // The sweep: last run and next one
  const deployedAt = stack.updatedAt;
  const rule = facts.sweepRule;
  const schedule = rule && !isFailure(rule) ? rule.expression : undefined;
  const interval = schedule ? intervalMs(schedule) : 3_600_000;
  const justDeployed =
    deployedAt !== undefined && now.getTime() - deployedAt.getTime() < interval + 10 * 60_000;
  const last = facts.lastSweep;
  if (isFailure(last)) add('last sweep', 'attention', `cannot read the sweep's log: ${last.failed}`);
  else if (!last) {
    add(
      'last sweep',
      justDeployed ? 'info' : 'attention',
      justDeployed
        ? 'not run yet since the deploy'
        : `no sweep in its log for the last ${hoursOf(facts.logWindowMs.sweep)}: see the next sweep line and \`npx serverless logs -f sweep\``,
    );
  } else {
    const text = `${when(last.at)}: ${last.summary}`;
    if (last.outcome === 'ok') add('last sweep', 'ok', text);
    else {
      const first = last.errors[0] ? `; first: ${last.errors[0]}` : '';
      add('last sweep', 'attention', `${text}${first}. Details: npx serverless logs -f sweep`);
    }
  }
  if (isFailure(rule)) add('next sweep', 'attention', `cannot read the sweep's schedule: ${rule.failed}`);
  else if (!rule)
    add('next sweep', 'attention', 'the sweep has no schedule rule: run `npx serverless deploy` again');
  else if (!rule.enabled) {
    add(
      'next sweep',
      'attention',
      `the schedule ${rule.expression} is DISABLED: nothing is swept. Enable the rule (EventBridge console) or redeploy`,
    );
  } else {
    const next = nextRun(rule.expression, now, last && !isFailure(last) ? last.at : undefined);
    add('next sweep', 'info', next ? `${when(next)} (${rule.expression})` : `${rule.expression}`);
  }

  // The digest
  const digest = facts.lastDigest;
  const digestRule = facts.digestRule;
  const digestInterval =
    digestRule && !isFailure(digestRule) ? intervalMs(digestRule.expression) : 86_400_000;
  if (isFailure(digest)) add('last digest', 'attention', `cannot read the digest's log: ${digest.failed}`);
  else if (!digest) {
    const due = deployedAt === undefined || now.getTime() - deployedAt.getTime() > digestInterval + 3_600_000;
    const next = digestRule && !isFailure(digestRule) ? nextRun(digestRule.expression, now) : undefined;
    add(
      'last digest',
      due ? 'attention' : 'info',
      due
        ? `no digest in its log for the last ${hoursOf(facts.logWindowMs.digest)}: \`npx serverless logs -f digest\``
        : `not sent yet${next ? `; first one ${when(next)}` : ''}`,
    );
  } else if (digest.outcome === 'ok') add('last digest', 'ok', `${when(digest.at)}: ${digest.summary}`);
  else {
    add(
      'last digest',
      'attention',
      `${when(digest.at)}: ${digest.summary}${digest.errors[0] ? `; first: ${digest.errors[0]}` : ''}`,
    );
  }

  // Alarms
  const alarms = facts.alarms;
  if (isFailure(alarms)) add('alarms', 'attention', `cannot read the stack's alarms: ${alarms.failed}`);
  else if (alarms.length === 0) add('alarms', 'ok', 'none in ALARM');
  else {
    for (const a of alarms) {
      add(
        'alarms',
        'attention',
        `${a.name} in ALARM${a.since ? ` since ${when(a.since)}` : ''}: ${a.reason}`,
      );
    }
  }

  // What the stack itself costs (information: it never makes the status unhealthy)
  const own = facts.ownCost;
  if (isFailure(own)) add('own cost', 'info', `cannot read this month's counters: ${own.failed}`);
  else if (own) {
    const billed = own.items
      .filter((i) => i.billedUsd > 0)
      .map((i) => `${i.item} $${i.billedUsd.toFixed(2)}`);
    add(
      'own cost',
      'info',
      `about $${own.billedUsd.toFixed(2)}/month after the AWS free tier ($${own.listUsd.toFixed(2)} at list price)${billed.length > 0 ? `: ${billed.join(', ')}` : ''}; by item in the digest and docs/costs.md`,
    );
  }
  return result();
}

/** The status screen: one line per check, then what needs attention. */
export function renderStatus(status: StackStatus): string {
  const width = 'last digest'.length; // the longest check name: the same columns whatever is shown
  const mark = { ok: 'ok', attention: '!!', info: '  ' } as const;
  const lines = [
    `cost-watchdog status: stack ${status.stackName} in ${status.region}${status.account ? ` (account ${status.account})` : ''}`,
    '',
    ...status.checks.map((c) => `${mark[c.state]}  ${c.check.padEnd(width)}  ${c.text}`),
    '',
  ];
  const attention = status.checks.filter((c) => c.state === 'attention');
  lines.push(
    attention.length === 0
      ? 'All well.'
      : `Needs attention (${attention.length}): see the lines marked !! above.`,
  );
  return lines.join('\n');
}

/** A log event as CloudWatch Logs returns it. */
export interface LogEvent {
  timestamp: number;
  message: string;
}

/** The request id of a Lambda text-format log line (`time<TAB>id<TAB>LEVEL<TAB>...` or `time id Task timed out`). */
function requestIdOf(message: string): string | undefined {
  const parts = message.includes('\t') ? message.split('\t') : message.split(' ');
  const id = parts[1]?.trim();
  return id && /^[0-9a-f-]{8,}$/i.test(id) ? id : undefined;
}

function jsonIn(message: string): Record<string, unknown> | undefined {
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(message.slice(start));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The last run of the sweep or the digest, from its function's log: the summary line the handler writes
 * ("sweep: 14 seen, 1 warned, ..."), or the runtime's "Invoke Error" / "Task timed out" line when it failed before
 * writing one. Undefined when the events hold no run.
 */
export function lastRunFromLog(events: readonly LogEvent[], kind: 'sweep' | 'digest'): RunFacts | undefined {
  const marker = `"message":"${kind}:`;
  const runs = [...events]
    .sort((a, b) => a.timestamp - b.timestamp)
    .filter(
      (e) =>
        e.message.includes(marker) ||
        e.message.includes('Invoke Error') ||
        /Task timed out after/.test(e.message),
    );
  const latest = runs.at(-1);
  if (!latest) return undefined;
  const id = requestIdOf(latest.message);
  // A sweep that finished with errors logs its summary, then throws: the summary says more.
  const summaryLine = latest.message.includes(marker)
    ? latest
    : runs.findLast((e) => e.message.includes(marker) && id !== undefined && requestIdOf(e.message) === id);
  if (summaryLine) {
    const parsed = jsonIn(summaryLine.message);
    const record = parsed ?? {};
    const details = (record.report ?? record.summary ?? {}) as {
      errors?: { region?: string; instanceId?: string; operation?: string; message?: string }[];
      dryRun?: boolean;
      notListed?: { errors?: number };
    };
    const errors = (details.errors ?? []).map((e) =>
      cleanLine(
        `${e.region ?? ''}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation ?? ''}: ${e.message ?? ''}`.trim(),
      ),
    );
    const more = Number(details.notListed?.errors ?? 0);
    if (more > 0) errors.push(`and ${more} more errors: npx serverless logs -f ${kind}`);
    // A line that is not JSON as a whole (a sweep of an older version whose long line Lambda passed on in pieces):
    // its message still says how many errors the run had.
    const message = parsed ? record.message : /"message":"([^"\\]*)"/.exec(summaryLine.message)?.[1];
    const counted = Number(/ (\d+) errors$/.exec(String(message ?? ''))?.[1] ?? 0);
    if (!parsed && counted > 0)
      errors.push(`${counted} errors, not readable from the log line: npx serverless logs -f ${kind}`);
    const said = String(message ?? kind).replace(`${kind}: `, '');
    return {
      at: new Date(summaryLine.timestamp),
      outcome: errors.length > 0 ? 'errors' : 'ok',
      summary: cleanLine(`${said}${details.dryRun ? ' (dry run)' : ''}`),
      errors,
    };
  }
  const timeout = /Task timed out after ([\d.]+) seconds/.exec(latest.message);
  if (timeout) {
    return {
      at: new Date(latest.timestamp),
      outcome: 'timeout',
      summary: `timed out after ${Math.round(Number(timeout[1]))} s`,
      errors: [],
    };
  }
  const error = jsonIn(latest.message);
  const what = error
    ? `${String(error.errorType ?? 'Error')}: ${String(error.errorMessage ?? '')}`
    : latest.message.slice(latest.message.indexOf('Invoke Error'));
  return {
    at: new Date(latest.timestamp),
    outcome: 'failed',
    summary: cleanLine(`failed: ${what}`, 300),
    errors: [],
  };
}
