/** The fan-out's SQS queues and SSM run claims for the scheduled sweep (built only when a run fans out). */
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type AwsTarget, clientConfig } from '../aws/clients.js';
import { FanOutQueues } from '../aws/fan-out-queue.js';
import { RunClaims } from '../aws/run-claims.js';
import type { Logger } from '../core/log.js';
import type { FanOutDeps } from '../jobs/fan-out.js';
import { fanOutQueueUrls } from './fan-out-env.js';

/** SDK-backed fan-out for the sweep handler: queue URLs from the environment, clients in the home region. */
export function sdkFanOutDeps(
  home: AwsTarget,
  env: NodeJS.ProcessEnv,
  clock: () => Date,
  log: Logger,
): FanOutDeps {
  return {
    queues: new FanOutQueues(new SQSClient(clientConfig(home)), fanOutQueueUrls(env)),
    claims: new RunClaims(new SSMClient(clientConfig(home))),
    clock,
    log,
  };
}
