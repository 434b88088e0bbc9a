import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { Ec2Adapter } from '../aws/ec2.js';
import { SIGNING_KEY_READ_PERMISSIONS, SigningKeyStore } from '../aws/signing-key.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { answerLinkRequest, type FunctionUrlResponse, type LinkRequestDeps } from '../jobs/answer-link.js';
import { handlerRuntime, onColdStart } from './runtime.js';

/** IAM actions of the actions function; its role grants exactly these (checked by a template test). */
export const ACTIONS_PERMISSIONS = [
  ...SIGNING_KEY_READ_PERMISSIONS,
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceAttribute',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:StopInstances',
] as const;

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
    const adapters = new Map<string, Ec2Adapter>();
    return {
      policy: rt.policy,
      account: rt.account,
      keys:
        deps.keys ?? new SigningKeyStore(new SSMClient(clientConfig(rt.home)), rt.keyParameter, deps.clock),
      ec2:
        deps.ec2 ??
        ((region) => {
          let a = adapters.get(region);
          if (!a) {
            a = new Ec2Adapter(new EC2Client(clientConfig({ ...rt.home, region })), region);
            adapters.set(region, a);
          }
          return a;
        }),
      log: deps.log ?? jsonLogger,
    };
  });
  return async (event) => answerLinkRequest(event, ready(), deps.clock());
}

/** The Lambda entry point. */
export const handler = createActionsHandler({ clock: () => new Date(), env: process.env });
