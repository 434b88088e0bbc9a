import { SNSClient } from '@aws-sdk/client-sns';
import { clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { Notifier } from '../aws/sns.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { AlertSink } from '../core/ports.js';
import { type DigestJobDeps, type DigestSummary, sendDigest } from '../jobs/digest.js';
import { handlerRuntime, onColdStart } from './runtime.js';

export type { DigestSummary } from '../jobs/digest.js';

/** What the handler needs from outside; tests inject a clock, services, a notifier and a log sink. */
export interface DigestHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  /** Target resolution (regions, member accounts). */
  services?: SweepServices;
  costs?: CostServices;
  notifier?: AlertSink;
  log?: Logger;
}

/** Builds the daily digest Lambda handler: one sendDigest() per scheduled event, logged. */
export function createDigestHandler(deps: DigestHandlerDeps): (event: unknown) => Promise<DigestSummary> {
  const log = deps.log ?? jsonLogger;
  const ready = onColdStart((): DigestJobDeps => {
    const rt = handlerRuntime(deps.env);
    return {
      policy: rt.policy,
      home: rt.home,
      services: deps.services ?? sdkSweepServices(deps.clock),
      costs: () => deps.costs ?? sdkCostServices(rt.home),
      alerts: deps.notifier ?? new Notifier(new SNSClient(clientConfig(rt.home)), rt.topicArn),
      topicKey: rt.topicKey,
    };
  });
  return async () => {
    const { summary } = await sendDigest(ready(), deps.clock());
    // `cost-watchdog status` reads this line back from the log ("digest: ..." and its summary): core/status.ts.
    log({
      level: summary.errors.length > 0 ? 'error' : 'info',
      message: `digest: ${summary.running} running, ${summary.errors.length} errors, ${summary.sent ? 'sent' : 'not sent'}`,
      summary,
    });
    return summary;
  };
}

/** The Lambda entry point. */
export const handler = createDigestHandler({ clock: () => new Date(), env: process.env });
