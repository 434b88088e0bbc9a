import { SNSClient } from '@aws-sdk/client-sns';
import { clientConfig } from '../aws/clients.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { Notifier } from '../aws/sns.js';
import { WatchdogError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import type { SweepReport } from '../core/report.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import { runSweep } from '../jobs/sweep.js';
import { resolveTargets } from '../jobs/targets.js';
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

/** What the handler needs from outside; tests inject a clock, services and a log sink. */
export interface SweepHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: SweepServices;
  notifier?: Notifier;
  log?: Logger;
}

/**
 * Builds the sweep Lambda handler. The environment and the policy are read and validated on the first
 * invocation (the cold start); an invalid policy fails there, before anything is touched.
 */
export function createSweepHandler(deps: SweepHandlerDeps): (event: unknown) => Promise<SweepSummary> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | { config: HandlerConfig; policy: Policy; services: SweepServices; notifier: Notifier }
    | undefined;
  return async () => {
    if (!ready) {
      const config = loadConfig(deps.env);
      const policy = readPolicyFile(config.policyFile);
      const endpoint = deps.env.AWS_ENDPOINT_URL;
      const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
      ready = {
        config,
        policy,
        services: deps.services ?? sdkSweepServices(deps.clock),
        notifier: deps.notifier ?? new Notifier(new SNSClient(clientConfig(home)), config.topicArn),
      };
    }
    const { config, policy, services, notifier } = ready;
    const now = deps.clock();
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
    const targets = await resolveTargets(policy, home, services);
    const report = await runSweep({ policy, now, targets, services, publish: (a) => notifier.publish(a) });
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
