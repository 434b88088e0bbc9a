import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { linkFleets } from '../aws/link-fleets.js';
import { SigningKeyStore } from '../aws/signing-key.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { answerLinkRequest, type FunctionUrlResponse, type LinkRequestDeps } from '../jobs/answer-link.js';
import { handlerRuntime, onColdStart } from './runtime.js';

export { ACTIONS_PERMISSIONS } from '../aws/link-fleets.js';
export { type FunctionUrlEvent, type FunctionUrlResponse, STOP_REASON_LINK } from '../jobs/answer-link.js';

/** What the handler needs from outside; tests inject a clock, the key store, EC2 adapters and a log sink. */
export interface ActionsHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  keys?: Pick<SigningKeyStore, 'read'>;
  ec2?: LinkRequestDeps['ec2'];
  log?: Logger;
}

/** Builds the handler of the actions function URL: one answerLinkRequest() per request. */
export function createActionsHandler(
  deps: ActionsHandlerDeps,
): (event: unknown) => Promise<FunctionUrlResponse> {
  const ready = onColdStart((): LinkRequestDeps => {
    const rt = handlerRuntime(deps.env);
    return {
      policy: rt.policy,
      account: rt.account,
      keys:
        deps.keys ?? new SigningKeyStore(new SSMClient(clientConfig(rt.home)), rt.keyParameter, deps.clock),
      // One adapter per region and kind (EC2 unless the link names a notebook or database), made on first use.
      ec2: deps.ec2 ?? linkFleets(rt.home),
      log: deps.log ?? jsonLogger,
    };
  });
  return async (event) => answerLinkRequest(event, ready(), deps.clock());
}

/** The Lambda entry point. */
export const handler = createActionsHandler({ clock: () => new Date(), env: process.env });
