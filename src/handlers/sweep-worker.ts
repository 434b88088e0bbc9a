import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../aws/clients.js';
import { FanOutQueues } from '../aws/fan-out-queue.js';
import { type SweepServices, sdkSweepServices } from '../aws/services.js';
import { describeError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { BundledPrices } from '../core/prices.js';
import { fanOutQueueUrls } from './fan-out-env.js';

/** The part of Lambda's SQS event the worker reads. */
export interface SqsEvent {
  Records: {
    messageId: string;
    receiptHandle: string;
    body: string;
    attributes?: { ApproximateReceiveCount?: string };
  }[];
}

/** Lambda's answer to an SQS batch (ReportBatchItemFailures): the messages to receive again, the rest are deleted. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** What the handler needs from outside; tests inject a clock, services, queues and a log sink. */
export interface SweepWorkerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: SweepServices;
  queues?: Pick<FanOutQueues, 'sendResults' | 'retryTargetLater'>;
  log?: Logger;
}

/**
 * Builds the sweep-worker Lambda handler (SQS trigger on the fan-out's targets queue, batch size up to 10): sweeps
 * the batch's targets at once, sends their results in as few SendMessageBatch calls as fit, and reports back the
 * messages to receive again: a target whose whole sweep failed for a passing reason (after a backoff), one whose
 * result could not be sent, one that threw. After TARGET_ATTEMPTS receives SQS moves a message to the dead-letter
 * queue, where the scheduled sweep's summary names it. A message that is not a target of this stack is logged and
 * dropped. The policy and clients are loaded on the first invocation.
 */
export function createSweepWorkerHandler(
  deps: SweepWorkerDeps,
): (event: SqsEvent) => Promise<SqsBatchResponse> {
  const log = deps.log ?? jsonLogger;
  let ready: Promise<Awaited<ReturnType<typeof setUp>>> | undefined;
  const setUp = async () => {
    const [{ handlerRuntime }, worker, fanOut] = await Promise.all([
      import('./runtime.js'),
      import('../jobs/fan-out-worker.js'),
      import('../core/fan-out.js'),
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
    return { job, queues, worker, fanOut };
  };
  return async (event) => {
    ready ??= setUp().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    const { job, queues, worker, fanOut } = await ready;
    const now = deps.clock();
    const failures: { itemIdentifier: string }[] = [];
    const sent: { messageId: string; body: string; target: string }[] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        let message: ReturnType<typeof fanOut.parseTargetMessage>;
        try {
          message = fanOut.parseTargetMessage(record.body);
        } catch (err) {
          log({ level: 'error', message: `sweep-worker: dropped a message: ${describeError(err)}` });
          return;
        }
        const attempt = Number(record.attributes?.ApproximateReceiveCount ?? 1) || 1;
        const label = fanOut.targetLabel(message.target);
        try {
          const outcome = await worker.sweepTargetMessage(job, message, attempt, now);
          if ('retry' in outcome) {
            log({
              level: 'warn',
              message: `sweep-worker: ${label} failed (attempt ${attempt}), again later: ${outcome.retry}`,
            });
            await queues
              .retryTargetLater(record.receiptHandle, fanOut.RETRY_BACKOFF_SECONDS * attempt)
              .catch(() => undefined);
            failures.push({ itemIdentifier: record.messageId });
            return;
          }
          const r = outcome.result;
          // The full result (every decision) stays in the log, whatever is cut to fit the message.
          log({
            level: r.errors.length > 0 ? 'error' : 'info',
            message: `sweep-worker: ${label} run ${r.runId}: ${r.scope.instances} seen, ${r.warned.length} warned, ${r.stopped.length} stopped, ${r.errors.length} errors`,
            result: r,
          });
          sent.push({ messageId: record.messageId, body: fanOut.resultBody(r), target: label });
        } catch (err) {
          log({
            level: 'error',
            message: `sweep-worker: ${label} failed (attempt ${attempt}): ${describeError(err)}`,
          });
          failures.push({ itemIdentifier: record.messageId });
        }
      }),
    );
    if (sent.length > 0) {
      const failed = await queues.sendResults(sent.map((s) => s.body));
      for (const [k, why] of failed) {
        const s = sent[k];
        if (!s) continue;
        log({ level: 'error', message: `sweep-worker: result of ${s.target} not sent, again later: ${why}` });
        failures.push({ itemIdentifier: s.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/** The Lambda entry point. */
export const handler = createSweepWorkerHandler({ clock: () => new Date(), env: process.env });
