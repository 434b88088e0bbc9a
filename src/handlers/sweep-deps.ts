/** The sweep handler's dependencies as deployed: SNS, SSM (usage ledger, signing key), the fan-out when it is there. */
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { SigningKeyStore } from '../aws/signing-key.js';
import { Notifier } from '../aws/sns.js';
import { UsageStore } from '../aws/usage-store.js';
import type { Logger } from '../core/log.js';
import type { AlertSink } from '../core/ports.js';
import { BundledPrices } from '../core/prices.js';
import type { FanOutDeps } from '../jobs/fan-out.js';
import type { SweepJobDeps, SweepUsageStore } from '../jobs/sweep-now.js';
import { sdkFanOutDeps } from './fan-out-deps.js';
import { fanOutDeployedIn } from './fan-out-env.js';
import type { Runtime } from './runtime.js';

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
 * The sweep job for runtime `rt`: the injected parts of `deps` where given, SDK clients in the home region otherwise.
 */
export function sdkSweepJob(rt: Runtime, deps: SweepHandlerDeps, log: Logger): SweepJobDeps {
  if (deps.env.ACTIONS_URL?.trim() === '') {
    // Set but empty: `serverless invoke local`, which cannot resolve the URL. Warnings still go out, unlinked.
    log({ level: 'warn', message: 'sweep: ACTIONS_URL is empty, so warnings carry no keep / stop links' });
  }
  const client = <T>(make: new (c: ReturnType<typeof clientConfig>) => T) => new make(clientConfig(rt.home));
  return {
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
}
