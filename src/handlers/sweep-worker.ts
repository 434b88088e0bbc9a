import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../aws/clients.js';
import { FanOutQueues } from '../aws/fan-out-queue.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { BundledPrices } from '../core/prices.js';
import type { SqsBatchResponse, SqsEvent, WorkerQueues } from '../jobs/fan-out-worker.js';
import { fanOutQueueUrls } from './fan-out-env.js';

export type { SqsBatchResponse, SqsEvent };

/** What the handler needs from outside; tests inject a clock, services, queues and a log sink. */
export interface SweepWorkerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: SweepServices;
  queues?: WorkerQueues;
  log?: Logger;
}

/**
 * Builds the sweep-worker Lambda handler (SQS trigger on the fan-out's targets queue, batch size up to 10): the batch
 * goes to sweepTargetBatch (src/jobs/fan-out-worker.ts), which answers with the messages to receive again. After
 * TARGET_ATTEMPTS receives SQS moves a message to the dead-letter queue, where the scheduled sweep's summary names
 * it. The policy and clients are loaded on the first invocation.
 */
export function createSweepWorkerHandler(
  deps: SweepWorkerDeps,
): (event: SqsEvent) => Promise<SqsBatchResponse> {
  const log = deps.log ?? jsonLogger;
  let ready: Promise<Awaited<ReturnType<typeof setUp>>> | undefined;
  const setUp = async () => {
    const [{ handlerRuntime }, worker] = await Promise.all([
      import('./runtime.js'),
      import('../jobs/fan-out-worker.js'),
    ]);
    const rt = handlerRuntime(deps.env);
    const queues =
      deps.queues ?? new FanOutQueues(new SQSClient(clientConfig(rt.home)), fanOutQueueUrls(deps.env));
    const job = {
      policy: rt.policy,
      home: rt.home,
      homeAccount: rt.account,
      services: deps.services ?? sdkSweepServices(deps.clock),
      prices: new BundledPrices(),
    };
    return { job, queues, worker };
  };
  return async (event) => {
    ready ??= setUp().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    const { job, queues, worker } = await ready;
    return worker.sweepTargetBatch(job, queues, event.Records, deps.clock(), log);
  };
}

/** The Lambda entry point. */
export const handler = createSweepWorkerHandler({ clock: () => new Date(), env: process.env });
