import { SNSClient } from '@aws-sdk/client-sns';
import { type AwsTarget, clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { Notifier } from '../aws/sns.js';
import { type Digest, renderDigest } from '../core/digest.js';
import { describeError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import type { Alert } from '../core/report.js';
import { runDigest } from '../jobs/digest.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import { resolveTargets } from '../jobs/targets.js';
import { type HandlerConfig, loadConfig } from './config.js';

/** What the handler returns and logs. */
export interface DigestSummary {
  at: string;
  running: number;
  monthEstimateUsd: number | null;
  leaksUsdPerMonth: number;
  savedLastDayUsd: number;
  sent: boolean;
  errors: Digest['errors'];
}

/** What the handler needs from outside; tests inject a clock, services, a notifier and a log sink. */
export interface DigestHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  /** Target resolution (regions, member accounts). */
  services?: SweepServices;
  costs?: CostServices;
  notifier?: { publish(alert: Alert): Promise<unknown> };
  log?: Logger;
}

/**
 * Builds the daily digest Lambda handler: gathers the figures, sends one email (text table + JSON) to the
 * admin subscription and records the dollars saved in the last day as a CostWatchdog metric. With the
 * policy's dryRun nothing is sent or written; the digest is only logged.
 */
export function createDigestHandler(deps: DigestHandlerDeps): (event: unknown) => Promise<DigestSummary> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | {
        config: HandlerConfig;
        policy: Policy;
        services: SweepServices;
        notifier: DigestHandlerDeps['notifier'] & {};
      }
    | undefined;
  return async () => {
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    if (!ready) {
      const config = loadConfig(deps.env);
      const policy = readPolicyFile(config.policyFile);
      const home: AwsTarget = { region: config.region, ...(endpoint ? { endpoint } : {}) };
      ready = {
        config,
        policy,
        services: deps.services ?? sdkSweepServices(deps.clock),
        notifier: deps.notifier ?? new Notifier(new SNSClient(clientConfig(home)), config.topicArn),
      };
    }
    const { config, policy, services, notifier } = ready;
    const now = deps.clock();
    const home: AwsTarget = { region: config.region, ...(endpoint ? { endpoint } : {}) };
    // Fresh per run: prices are cached for one digest only.
    const costs = deps.costs ?? sdkCostServices(home);
    const targets = await resolveTargets(policy, home, services);
    const digest = await runDigest({ policy, now, targets, services: costs });
    let sent = false;
    if (!policy.dryRun) {
      try {
        await notifier.publish(renderDigest(digest));
        sent = true;
      } catch (err) {
        digest.errors.push({ region: config.region, operation: 'sns:Publish', message: describeError(err) });
      }
      try {
        await costs.usage.recordSaved(digest.savings.lastDay.usd, now);
      } catch (err) {
        digest.errors.push({
          region: config.region,
          operation: 'cloudwatch:PutMetricData',
          message: describeError(err),
        });
      }
    }
    const summary: DigestSummary = {
      at: digest.at,
      running: digest.running.length,
      monthEstimateUsd: digest.thisMonth?.estimated.usd ?? null,
      leaksUsdPerMonth: digest.leaks.totalUsdPerMonth.usd,
      savedLastDayUsd: digest.savings.lastDay.usd,
      sent,
      errors: digest.errors,
    };
    log({
      level: digest.errors.length > 0 ? 'error' : 'info',
      message: `digest: ${summary.running} running, ${digest.errors.length} errors, ${sent ? 'sent' : 'not sent'}`,
      summary,
    });
    return summary;
  };
}

/** The Lambda entry point. */
export const handler = createDigestHandler({ clock: () => new Date(), env: process.env });
