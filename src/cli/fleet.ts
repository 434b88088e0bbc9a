import { readFileSync, writeFileSync } from 'node:fs';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type AwsTarget, clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { PriceLookup } from '../aws/pricing.js';
import { renderStoppedCostsSummary } from '../core/stopped-costs.js';
import { runDigest } from '../jobs/digest.js';
import { resolveTargets } from '../jobs/targets.js';
import { SigningKeyStore } from '../aws/signing-key.js';
import { UsageStore } from '../aws/usage-store.js';
import { NAMES, type Policy } from '../core/policy.js';
import { BundledPrices } from '../core/prices.js';
import { type SweepJobDeps, type SweepUsageStore, sweepNow } from '../jobs/sweep-now.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { Notifier } from '../aws/sns.js';
import { InputError, printable } from '../core/errors.js';
import { evaluate } from '../core/evaluate.js';
import type { Instance, InstanceMetrics } from '../core/instance.js';
import { formatLocalTime } from '../core/local-time.js';
import { renderMorningStartTable } from '../core/morning-start.js';
import { kindEnabled, kindOf, kindTypeInfo, policyForKind } from '../core/kinds.js';
import { renderPlanTable } from '../core/render.js';
import { emptySweepReport, type SweepReport } from '../core/report.js';
import { parseSnapshot, type Snapshot, toSnapshotFile } from '../core/snapshot.js';
import { cleanLine } from '../core/text.js';
import { setAwsAccessCheck } from './aws-access.js';
import type { CommandContext } from './command.js';
import { type Common, type Io, loadPolicy, topicArnOf } from './context.js';

/** Services used by the live commands; tests replace them. */
export let cliServices: () => SweepServices = sdkSweepServices;

/** What `plan` reads for its "what stopped still costs" section; tests replace it (undefined: no section). */
let cliStoppedCosts: ((home: AwsTarget) => CostServices) | undefined = sdkCostServices;

/** The month ledger (budget rule, usage record) of the live commands; tests replace them. */
let cliUsage: (home: AwsTarget) => SweepUsageStore | undefined = (home) => ({
  prices: new BundledPrices(),
  usage: new UsageStore(new SSMClient(clientConfig(home))),
});

/**
 * For tests: use these services instead of SDK clients (and, unless given too, record no usage). Fake services
 * reach no AWS, so the credentials check is skipped with them (and on again with sdkSweepServices).
 */
export function setCliServices(
  factory: () => SweepServices,
  usage: (home: AwsTarget) => SweepUsageStore | undefined = () => undefined,
  stoppedCosts?: (home: AwsTarget) => CostServices,
): void {
  cliServices = factory;
  cliUsage = usage;
  cliStoppedCosts = stoppedCosts ?? (factory === sdkSweepServices ? sdkCostServices : undefined);
  setAwsAccessCheck(factory === sdkSweepServices ? 'sts' : undefined);
}

/** Signed keep / stop links for `sweep`, as the scheduled function signs them, when ACTIONS_URL is set. */
function linkSigning(
  env: NodeJS.ProcessEnv,
  home: AwsTarget,
  topicArn: string | undefined,
): Pick<SweepJobDeps, 'links'> {
  const actionsUrl = env.ACTIONS_URL?.trim();
  if (!actionsUrl) return {};
  if (!/^https:\/\/|^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(actionsUrl)) {
    throw new InputError(
      'ACTIONS_URL',
      `"${printable(actionsUrl)}" is not an https:// URL; use the stack output ActionsUrl`,
    );
  }
  const account = topicArn?.split(':')[4];
  if (!account) {
    throw new InputError(
      'ACTIONS_URL',
      "signed links need the stack's account: give --topic-arn (the stack output AlertTopicArn) too",
    );
  }
  const parameter = env.SIGNING_KEY_PARAMETER?.trim() || NAMES.signingKeyParameter;
  return {
    links: { actionsUrl, account, keys: new SigningKeyStore(new SSMClient(clientConfig(home)), parameter) },
  };
}

/** Every region (and account) of the run failed: there is no fleet to show, only the errors. */
function nothingRead(report: SweepReport): boolean {
  return report.scopes.length > 0 && report.scopes.every((s) => !s.ok);
}

/** The errors of a run, one line each, and a hint when they are about credentials. */
function printErrors(report: SweepReport, io: Io): void {
  for (const s of report.scopes.filter((s) => !s.ok)) {
    io.err(`${s.account ? `account ${s.account} ` : ''}region ${s.region} failed: ${s.error}`);
  }
  for (const e of report.errors) {
    io.err(`error: ${e.region}${e.instanceId ? ` ${e.instanceId}` : ''} ${e.operation}: ${e.message}`);
  }
  if (report.errors.some((e) => /CredentialsProviderError|Could not load credentials/.test(e.message))) {
    io.err('hint: no AWS credentials found; run `aws configure`, set AWS_PROFILE, or pass --profile NAME');
  }
}

function printReport(report: SweepReport, common: Common, io: Io, title: string, timeZone: string): void {
  if (common.json) {
    io.out(JSON.stringify(report, null, 2));
    return;
  }
  if (nothingRead(report)) {
    // No table and no "No running instances": nothing could be read.
    io.err(`${title} failed: no region could be read; nothing was changed.`);
    printErrors(report, io);
    return;
  }
  const at = formatLocalTime(new Date(report.at), timeZone, { year: true });
  io.out(`${title} at ${at}${report.dryRun ? ' (dry run: nothing changed)' : ''}`);
  io.out('');
  io.out(renderPlanTable(report.decisions, timeZone));
  io.out('');
  const counts = { stop: 0, warn: 0, report: 0, none: 0 };
  for (const d of report.decisions) counts[d.action]++;
  io.out(
    `${report.instancesSeen} running in ${report.scopes.length} region(s): ${counts.stop} to stop, ${counts.warn} to warn, ${counts.report} reported only, ${counts.none} fine.`,
  );
  if (!report.dryRun) {
    io.out(
      `Done: ${report.warned.length} warned, ${report.stopped.length} stopped, ${report.cleared.length} warnings cleared, ${report.alertsSent} alert(s) sent.`,
    );
  }
  if (report.morningStart) {
    const ms = report.morningStart;
    const starts = ms.decisions.filter((d) => d.start).length;
    io.out('');
    io.out(
      `Morning start (quiet hours): ${report.dryRun ? `${starts} to start` : `${ms.started.length} started`} of ${ms.decisions.length} stopped by quiet hours.`,
    );
    if (ms.decisions.length > 0) io.out(renderMorningStartTable(ms, timeZone));
  }
  if (report.postponed.length > 0) {
    io.out(
      `${report.postponed.length} new warning(s) or stop(s) postponed to the next run (too many stop-protection checks for one run; docs/scale.md).`,
    );
  }
  printErrors(report, io);
}

/** The usage store, for the budget rule (plan: only when a budget is set) or to record a real sweep too. */
function usageOf(policy: Policy, home: AwsTarget, record = false): Pick<SweepJobDeps, 'usage'> {
  if (!record && policy.budget.monthlyUsd === null) return {};
  const usage = cliUsage(home);
  return usage ? { usage } : {};
}

/** `plan` (commands.ts): what a sweep would do now (or --at), live or from a snapshot; changes nothing. */
export async function runPlan({ values, common, io }: CommandContext): Promise<number> {
  const policy = loadPolicy(common);
  if (typeof values.snapshot === 'string') {
    const snapshot = readSnapshot(values.snapshot);
    const now = common.at ?? snapshot.takenAt;
    // As the sweep judges them: each kind with its own policy and free-tier lists; kinds switched off left out.
    const watched = snapshot.fleet.filter((f) => kindEnabled(policy, kindOf(f.instance)));
    const decisions = watched.map(({ instance, metrics }) => {
      const typeInfo = kindTypeInfo(instance, policy, instance.typeInfo);
      return evaluate(
        { ...instance, ...(typeInfo ? { typeInfo } : {}) },
        metrics,
        policyForKind(policy, kindOf(instance)),
        now,
      );
    });
    const regions = new Set(watched.map((f) => f.instance.region));
    printReport(
      {
        ...emptySweepReport(now.toISOString(), true),
        scopes: [...regions].map((region) => ({
          region,
          instances: watched.filter((f) => f.instance.region === region).length,
          ok: true,
        })),
        instancesSeen: decisions.length,
        decisions,
      },
      common,
      io,
      `Plan for snapshot ${cleanLine(values.snapshot)}${snapshot.description ? ` (${snapshot.description})` : ''}`,
      policy.timeZone,
    );
    return 0;
  }
  // The same sweep as the scheduled function, dry: with the budget's month estimate, so over-budget shows.
  const now = common.at ?? new Date();
  const report = await sweepNow(
    { policy, home: common.home, services: cliServices(), ...usageOf(policy, common.home) },
    { now, dryRun: true, ...(common.regions ? { regions: common.regions } : {}) },
  );
  printReport(report, common, io, 'Plan', policy.timeZone);
  if (!common.json && !nothingRead(report) && cliStoppedCosts) {
    // What stopped or unused resources still cost (the digest lists each one): bundled prices, read only.
    const costs = { ...cliStoppedCosts(common.home), prices: new PriceLookup() };
    const targets = await resolveTargets(policy, common.home, cliServices(), common.regions);
    const digest = await runDigest({ policy, now, targets, services: costs });
    io.out('');
    io.out(renderStoppedCostsSummary(digest.leaks.stopped));
    for (const e of digest.errors) io.err(`error: ${e.region} ${e.operation}: ${e.message}`);
  }
  return report.errors.length > 0 ? 1 : 0;
}

/** `sweep` (commands.ts): one real sweep from the terminal (the same run as the scheduled function). */
export async function runSweepCommand({ values, common, io }: CommandContext): Promise<number> {
  const policy = loadPolicy(common);
  const topicArn = topicArnOf(values, io.env);
  const notifier = topicArn
    ? new Notifier(
        new SNSClient(clientConfig({ ...common.home, region: topicArn.split(':')[3] as string })),
        topicArn,
      )
    : undefined;
  // The same run as the scheduled function: alerts, the budget rule, usage recorded; links when ACTIONS_URL is
  // set (the stack output ActionsUrl) and the signing key can be read.
  const report = await sweepNow(
    {
      policy,
      home: common.home,
      services: cliServices(),
      ...(notifier ? { alerts: notifier } : {}),
      ...usageOf(policy, common.home, true),
      ...linkSigning(io.env, common.home, topicArn),
    },
    {
      now: common.at ?? new Date(),
      dryRun: common.dryRun,
      ...(common.regions ? { regions: common.regions } : {}),
    },
  );
  printReport(report, common, io, 'Sweep', policy.timeZone);
  if (!notifier && !report.dryRun) io.err('note: no --topic-arn or TOPIC_ARN, so no alert was sent');
  return report.errors.length > 0 ? 1 : 0;
}

/**
 * `snapshot` (commands.ts): records the fleet and its metrics as JSON for `plan --snapshot`. When a region could not
 * be read, nothing is written: a snapshot that silently misses instances would answer "what if" wrongly.
 */
export async function runSnapshot({ values, common, io }: CommandContext): Promise<number> {
  const policy = loadPolicy(common);
  const fleet: Snapshot['fleet'] = [];
  const now = common.at ?? new Date();
  const report = await sweepNow(
    { policy, home: common.home, services: cliServices() },
    {
      now,
      dryRun: true,
      fullMetrics: true,
      ...(common.regions ? { regions: common.regions } : {}),
      onObserved: (instance: Instance, metrics: InstanceMetrics | undefined) =>
        fleet.push({ instance, metrics }),
    },
  );
  const failed = report.scopes.filter((s) => !s.ok);
  if (failed.length > 0) {
    io.err(
      `snapshot not written: ${failed.length} of ${report.scopes.length} region(s) could not be read (a partial fleet would mislead plan --snapshot).`,
    );
    printErrors(report, io);
    return 1;
  }
  const text = JSON.stringify(toSnapshotFile({ takenAt: now, fleet }), null, 1);
  if (typeof values.out === 'string') {
    writeFileSync(values.out, `${text}\n`);
    io.err(`wrote ${fleet.length} instance(s) to ${values.out}`);
  } else {
    io.out(text);
  }
  for (const e of report.errors) io.err(`error: ${e.region} ${e.operation}: ${e.message}`);
  return report.errors.length > 0 ? 1 : 0;
}

function readSnapshot(path: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError('--snapshot', cleanLine(`cannot read ${path}: ${(err as Error).message}`), {
      cause: err,
    });
  }
  return parseSnapshot(text, path);
}
