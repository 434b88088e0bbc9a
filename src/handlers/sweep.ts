import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { SigningKeyStore } from '../aws/signing-key.js';
import { Notifier } from '../aws/sns.js';
import { UsageMetrics } from '../aws/usage-metrics.js';
import { describeError, WatchdogError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import { BundledPrices, type Prices } from '../core/prices.js';
import type { SweepReport } from '../core/report.js';
import { signActionLinks } from '../jobs/action-links.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import { runSweep } from '../jobs/sweep.js';
import { resolveTargets } from '../jobs/targets.js';
import { budgetContext, recordSweepUsage } from '../jobs/usage.js';
import { type LinkSigningConfig, loadLinkSigningConfig } from './actions-config.js';
import { type HandlerConfig, loadConfig } from './config.js';

/** Thrown after a sweep that finished with errors, so the function's error alarm fires. The work is done. */
export class SweepIncompleteError extends WatchdogError {
  constructor(readonly summary: SweepSummary) {
    super(
      `sweep finished with ${summary.errors.length} error(s): ${summary.errors
        .map((e) => e.message)
        .slice(0, 3)
        .join(' | ')}`,
    );
    this.name = 'SweepIncompleteError';
  }
}

/** What the handler returns and logs: counts, what was done, errors, and every decision that is not "none". */
export type SweepSummary = Omit<SweepReport, 'decisions'> & {
  decisions: Pick<
    SweepReport['decisions'][number],
    'instanceId' | 'region' | 'action' | 'rule' | 'reasons' | 'protection'
  >[];
};

/** Shrinks a report for the log line and the return value (Lambda responses are limited to 6 MB). */
export function summarize(report: SweepReport): SweepSummary {
  return {
    ...report,
    decisions: report.decisions
      .filter((d) => d.action !== 'none')
      .map(({ instanceId, region, action, rule, reasons, protection }) => ({
        instanceId,
        region,
        action,
        rule,
        reasons,
        protection,
      })),
  };
}

/** What the sweep needs to record usage and judge the budget. */
export interface SweepCosts {
  prices: Prices;
  usage: UsageMetrics;
}

/** What the handler needs from outside; tests inject a clock, services and a log sink. */
export interface SweepHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: SweepServices;
  notifier?: Notifier;
  /**
   * Prices and the CostWatchdog metrics (free-tier hours, estimated dollars, budget). The sweep prices from
   * the bundled table (no Price List client in its bundle or role); the digest asks the Price List API.
   */
  costs?: SweepCosts;
  log?: Logger;
  /** The action-link signing key (SSM); default: the parameter named by SIGNING_KEY_PARAMETER. */
  signingKeys?: Pick<SigningKeyStore, 'readOrCreate'>;
}

/**
 * Builds the sweep Lambda handler. The environment and the policy are read and validated on the first
 * invocation (the cold start); an invalid policy fails there, before anything is touched.
 */
export function createSweepHandler(deps: SweepHandlerDeps): (event: unknown) => Promise<SweepSummary> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | {
        config: HandlerConfig;
        policy: Policy;
        services: SweepServices;
        notifier: Notifier;
        costs: SweepCosts | null;
        /** Set when ACTIONS_URL is: warnings then carry signed keep / stop links. */
        links: { config: LinkSigningConfig; keys: Pick<SigningKeyStore, 'readOrCreate'> } | null;
      }
    | undefined;
  return async () => {
    if (!ready) {
      const config = loadConfig(deps.env);
      const policy = readPolicyFile(config.policyFile);
      const endpoint = deps.env.AWS_ENDPOINT_URL;
      const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
      const linkConfig = loadLinkSigningConfig(deps.env);
      ready = {
        config,
        policy,
        services: deps.services ?? sdkSweepServices(deps.clock),
        notifier: deps.notifier ?? new Notifier(new SNSClient(clientConfig(home)), config.topicArn),
        // Injected fleet services (tests, benchmark) without injected cost services: record no usage rather
        // than reach a real AWS endpoint from a test.
        costs:
          deps.costs ??
          (deps.services
            ? null
            : { prices: new BundledPrices(), usage: new UsageMetrics(new CloudWatchClient(clientConfig(home))) }),
        links: linkConfig
          ? {
              config: linkConfig,
              keys:
                deps.signingKeys ??
                new SigningKeyStore(new SSMClient(clientConfig(home)), linkConfig.keyParameter, deps.clock),
            }
          : null,
      };
    }
    const { config, policy, services, notifier, links } = ready;
    const costs = ready.costs;
    const now = deps.clock();
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
    const targets = await resolveTargets(policy, home, services);
    const usageErrors: SweepReport['errors'] = [];
    const budget = costs
      ? await budgetContext(policy, now, costs.usage).catch((err: unknown) => {
          usageErrors.push({
            region: config.region,
            operation: 'cloudwatch:GetMetricData (budget)',
            message: describeError(err),
          });
          return null;
        })
      : null;
    const observed: Instance[] = [];
    const report = await runSweep({
      policy,
      now,
      targets,
      services,
      publish: (a) => notifier.publish(a),
      onObserved: (instance) => observed.push(instance),
      ...(budget ? { context: budget.context } : {}),
      ...(links
        ? {
            actionLinks: (warned) =>
              signActionLinks(warned, {
                actionsUrl: links.config.actionsUrl,
                account: links.config.account,
                keys: links.keys,
                policy,
                now,
              }),
          }
        : {}),
    });
    if (costs && !report.dryRun) {
      // Free-tier hours, instance-hours and estimated dollars for the digest, the dashboard and the budget.
      try {
        const usage = await recordSweepUsage({
          policy,
          now,
          instances: observed,
          stops: report.stopped.length,
          prices: costs.prices,
          usage: costs.usage,
          ...(budget ? { estimateBeforeUsd: budget.estimateUsd } : {}),
        });
        if (usage.alert) {
          await notifier.publish(usage.alert);
          report.alertsSent++;
        }
      } catch (err) {
        usageErrors.push({
          region: config.region,
          operation: 'cloudwatch:PutMetricData (usage)',
          message: describeError(err),
        });
      }
    }
    report.errors.push(...usageErrors);
    const summary = summarize(report);
    log({
      level: report.errors.length > 0 ? 'error' : 'info',
      message: `sweep: ${report.instancesSeen} seen, ${report.warned.length} warned, ${report.stopped.length} stopped, ${report.errors.length} errors`,
      report: summary,
    });
    if (report.errors.length > 0) throw new SweepIncompleteError(summary);
    return summary;
  };
}

/** The Lambda entry point. */
export const handler = createSweepHandler({ clock: () => new Date(), env: process.env });
