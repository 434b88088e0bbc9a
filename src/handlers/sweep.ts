import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { SigningKeyStore } from '../aws/signing-key.js';
import { Notifier } from '../aws/sns.js';
import { UsageStore } from '../aws/usage-store.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { AlertSink } from '../core/ports.js';
import { BundledPrices } from '../core/prices.js';
import type { FanOutDeps } from '../jobs/fan-out.js';
import type { SweepJobDeps, SweepUsageStore } from '../jobs/sweep-now.js';
import { SweepIncompleteError, type SweepSummary, summarize } from '../jobs/sweep-summary.js';
import { sdkFanOutDeps } from './fan-out-deps.js';
import { fanOutDeployedIn } from './fan-out-env.js';

export { SweepIncompleteError, type SweepSummary, summarize } from '../jobs/sweep-summary.js';

/** What the handler needs from outside; tests inject a clock, services and a log sink. */
export interface SweepHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: SweepServices;
  notifier?: AlertSink;
  /**
   * Prices and the month ledger (free-tier hours, estimated dollars, budget). The sweep prices from
   * the bundled table (no Price List client in its bundle or role); the digest asks the Price List API.
   */
  costs?: SweepUsageStore;
  log?: Logger;
  /** The action-link signing key (SSM); default: the parameter named by SIGNING_KEY_PARAMETER. */
  signingKeys?: Pick<SigningKeyStore, 'readOrCreate'>;
  /** The fan-out's queues and run claims; default: SQS and SSM when the stack has the fan-out (FAN_OUT=on). */
  fanOut?: FanOutDeps;
}

/**
 * Builds the sweep Lambda handler: one sweepNow() per scheduled event. The environment and the policy are read and
 * validated on the first invocation (an invalid policy fails there, before anything is touched). A run that
 * finished with errors throws SweepIncompleteError after its work, so the function's error alarm fires.
 */
export function createSweepHandler(deps: SweepHandlerDeps): (event: unknown) => Promise<SweepSummary> {
  const log = deps.log ?? jsonLogger;
  // Loading the module does no work: the policy (its schema, YAML), the sweep and the clients are loaded and
  // built on the first invocation, and kept for the next ones in this container.
  let ready:
    | Promise<{
        job: SweepJobDeps;
        sweepNow: typeof import('../jobs/sweep-now.js').sweepNow;
        isQuietHoursRun: typeof import('../core/quiet-schedules.js').isQuietHoursRun;
      }>
    | undefined;
  const setUp = async () => {
    const [{ handlerRuntime }, { sweepNow }, { isQuietHoursRun }] = await Promise.all([
      import('./runtime.js'),
      import('../jobs/sweep-now.js'),
      import('../core/quiet-schedules.js'),
    ]);
    const rt = handlerRuntime(deps.env);
    if (deps.env.ACTIONS_URL?.trim() === '') {
      // Set but empty: `serverless invoke local`, which cannot resolve the URL. Warnings still go out, unlinked.
      log({ level: 'warn', message: 'sweep: ACTIONS_URL is empty, so warnings carry no keep / stop links' });
    }
    const client = <T>(make: new (c: ReturnType<typeof clientConfig>) => T) =>
      new make(clientConfig(rt.home));
    const job: SweepJobDeps = {
      policy: rt.policy,
      home: rt.home,
      services: deps.services ?? sdkSweepServices(deps.clock),
      alerts: deps.notifier ?? new Notifier(client(SNSClient), rt.topicArn),
      // Injected fleet services (tests, benchmark) without injected costs: record no usage rather than reach a
      // real AWS endpoint from a test.
      ...(deps.costs
        ? { usage: deps.costs }
        : deps.services
          ? {}
          : { usage: { prices: new BundledPrices(), usage: new UsageStore(client(SSMClient)) } }),
      ...(rt.actionsUrl
        ? {
            links: {
              actionsUrl: rt.actionsUrl,
              account: rt.account,
              keys: deps.signingKeys ?? new SigningKeyStore(client(SSMClient), rt.keyParameter, deps.clock),
            },
          }
        : {}),
      ...(deps.fanOut || fanOutDeployedIn(deps.env)
        ? { fanOut: async () => deps.fanOut ?? sdkFanOutDeps(rt.home, deps.env, deps.clock, log) }
        : {}),
    };
    return { job, sweepNow, isQuietHoursRun };
  };
  return async (event) => {
    // A failed set-up (an invalid policy) is tried again on the next invocation, and fails the same way.
    ready ??= setUp().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    const { job, sweepNow, isQuietHoursRun } = await ready;
    // Quiet hours' runs at the windows' edges are extra runs: they record no usage (docs/quiet-hours.md).
    const extraRun = isQuietHoursRun(event);
    const report = await sweepNow(job, { now: deps.clock(), ...(extraRun ? { extraRun } : {}) });
    const summary = summarize(report);
    // `cost-watchdog status` reads this line back from the log ("sweep: ..." and its report): core/status.ts.
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
