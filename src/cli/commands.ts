/**
 * The CLI's own commands as `--help` shows them: name, help and flags. Each implementation (and the AWS SDK clients
 * it needs) is imported only when the command runs, so `--help` loads nothing heavy.
 */
import type { Command } from './command.js';
import { topicArnOf } from './context.js';

/** `plan`: what a sweep would do now (or --at), live or from a snapshot; changes nothing. */
export const planCommand: Command = {
  name: 'plan',
  summary: 'show what a sweep would do, with reasons; changes nothing',
  usage: `cost-watchdog plan [--snapshot FILE] [options]

Evaluates every running instance against the policy and prints a table of
instance, rule, action and reasons. Nothing is tagged, stopped or emailed.

  --snapshot FILE   evaluate a recorded fleet (from \`cost-watchdog snapshot\`) offline,
                    as of its recording time unless --at is given: try other
                    thresholds with --policy without touching the account

Examples:
  cost-watchdog plan --region eu-west-1
  cost-watchdog plan --snapshot examples/classroom.json --policy strict.yml`,
  options: { snapshot: { type: 'string' } },
  common: ['region', 'endpoint-url', 'profile', 'policy', 'at', 'json'],
  callsAws: (values) => typeof values.snapshot !== 'string',
  run: async (ctx) => (await import('./fleet.js')).runPlan(ctx),
};

/** `sweep`: one real sweep from the terminal (the same run as the scheduled function). */
export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'run a sweep now: warn, and stop instances whose grace period has passed',
  usage: `cost-watchdog sweep [--topic-arn ARN] [options]

Runs the same sweep as the scheduled function: writes warning tags, stops
instances warned at least the grace period ago whose rule still holds, and,
with --topic-arn (or TOPIC_ARN), sends the summary alert. Never terminates.
Use --dry-run (or \`plan\`) to see the decisions without changing anything.

  --topic-arn ARN   SNS topic for alerts (default: $TOPIC_ARN; none = no alerts)`,
  options: { 'topic-arn': { type: 'string' } },
  common: ['region', 'endpoint-url', 'profile', 'policy', 'at', 'json', 'dry-run'],
  validate: (values, env) => {
    topicArnOf(values, env);
  },
  run: async (ctx) => (await import('./fleet.js')).runSweepCommand(ctx),
};

/** `snapshot`: record the fleet and its metrics as JSON for `plan --snapshot`. */
export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'record running instances and their metrics to JSON (for plan --snapshot)',
  usage: `cost-watchdog snapshot [--out FILE] [options] > fleet.json

Records every running instance (type facts, tags, launch time) and the metrics
the policy's idle rule needs, in the format \`plan --snapshot\` reads. Read-only.
When a region cannot be read, nothing is written (exit status 1): a snapshot
that silently misses instances would answer "what if" wrongly.

  --out FILE   write to FILE instead of standard output`,
  options: { out: { type: 'string' } },
  common: ['region', 'endpoint-url', 'profile', 'policy', 'at'],
  run: async (ctx) => (await import('./fleet.js')).runSnapshot(ctx),
};

/** `digest`: the daily digest in the terminal (the same figures as the email); read-only. */
export const digestCommand: Command = {
  name: 'digest',
  summary: 'print the cost digest: running now, this month, free tier, savings, leaks; read-only',
  usage: `cost-watchdog digest [--table-prices] [options]

Prints the same report as the daily digest email: instances running now with
uptime and $/h, hours and estimated dollars this month per owner, free-tier
hours used / allowance / projection, warnings and stops in the last day,
dollars saved by stops, and cost leaks (unattached EBS volumes, unused Elastic
IPs, public IPv4 addresses). Every dollar figure is an estimate and names its
source. Sends nothing and changes nothing. --json prints the data instead.

  --table-prices   use only the bundled price table (no Price List API calls)

Examples:
  cost-watchdog digest --region us-east-1
  cost-watchdog digest --json > digest.json`,
  options: { 'table-prices': { type: 'boolean', default: false } },
  common: ['region', 'endpoint-url', 'profile', 'policy', 'at', 'json'],
  run: async (ctx) => (await import('./digest.js')).runDigestCommand(ctx),
};

/** `validate`: checks a policy file and prints the effective policy. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a policy file; print the effective policy with defaults filled in',
  usage: `cost-watchdog validate [--policy FILE] [--json]

Checks the policy against the schema and says which file it read: --policy FILE,
else ./watchdog.yml, else (no watchdog.yml here) the built-in defaults. Every
problem is named with its field and the value found (or its line, for YAML syntax
errors) and what is allowed. Exit status 0 when valid, 1 when not. With --json
the effective policy (or {"error": ...}) is printed as JSON.`,
  options: {},
  common: ['policy', 'json'],
  callsAws: () => false,
  run: async (ctx) => (await import('./validate.js')).runValidate(ctx),
};

/** `status`: is the deployed stack working? */
export const statusCommand: Command = {
  name: 'status',
  summary: 'is the deployed stack working? stack, policy, email, last sweep and digest, alarms',
  usage: `cost-watchdog status [--stage NAME] [options]

One screen about the deployed stack cost-watchdog-<stage> in the home region:
the stack and its five functions, whether the deployed watchdog.yml is the
local one, the email subscriptions of the alert topic (confirmed / pending),
the last sweep (from its log: when, what it did, errors) and when the next one
is due, the last digest, and the stack's alarms that are in ALARM.
Exit status 0 when all is well, 1 when something needs attention (each such
line says what to do). Read-only; the IAM permissions it needs are in README.md.

  --stage NAME   the serverless stage deployed (default: prod)

Examples:
  cost-watchdog status
  cost-watchdog status --region eu-west-1 --stage dev`,
  options: { stage: { type: 'string' } },
  common: ['region', 'endpoint-url', 'profile', 'policy', 'json'],
  run: async (ctx) => (await import('./status.js')).runStatus(ctx),
};
