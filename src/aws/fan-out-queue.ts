import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describeError } from '../core/errors.js';
import { messageBytes } from '../core/fan-out.js';
import { chunk, mapBounded } from './clients.js';

/** IAM actions of the scheduled sweep on the fan-out's queues: send targets, read and delete results. */
export const FAN_OUT_PLANNER_PERMISSIONS = [
  'sqs:SendMessage',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
] as const;

/**
 * IAM actions of the sweep-worker on the queues: its SQS trigger reads and deletes targets (ReceiveMessage,
 * DeleteMessage, GetQueueAttributes), it delays a retry (ChangeMessageVisibility) and sends results (SendMessage).
 */
export const FAN_OUT_WORKER_PERMISSIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:ChangeMessageVisibility',
  'sqs:SendMessage',
] as const;

/** SendMessageBatch: at most 10 entries and 256 KiB in all. */
export const SQS_BATCH_ENTRIES = 10;
export const SQS_BATCH_BYTES = 262_144;

/** SendMessageBatch calls the scheduled sweep keeps in flight while it sends a run's targets. */
export const SEND_BATCHES_IN_PARALLEL = 10;

/** Where the fan-out's queues are (their URLs, from the stack's environment). */
export interface FanOutQueueUrls {
  targets: string;
  results: string;
  deadLetter: string;
}

/** One message received: its body, its receipt handle and how often it was received. */
export interface ReceivedMessage {
  body: string;
  receipt: string;
  receiveCount: number;
}

/** Which queue to read: the results, or the targets that went to the dead-letter queue. */
export type ReadQueue = 'results' | 'deadLetter';

/**
 * The fan-out's SQS queues: targets out (the scheduled sweep), results back (the workers), and reading results and
 * dead-lettered targets (the scheduled sweep's summary). Bodies are plain JSON strings; what they mean is
 * src/core/fan-out.ts.
 */
export class FanOutQueues {
  /** Requests made (the benchmark counts them). */
  requests = 0;

  constructor(
    private readonly client: SQSClient,
    private readonly urls: FanOutQueueUrls,
  ) {}

  /**
   * Sends bodies to the targets queue, 10 to a SendMessageBatch and several batches at once. Returns the index of
   * every body that could not be sent, with why; the others are on the queue.
   */
  async sendTargets(bodies: readonly string[]): Promise<Map<number, string>> {
    const failed = new Map<number, string>();
    const entries = bodies.map((body, k) => ({ body, k }));
    await mapBounded(chunk(entries, SQS_BATCH_ENTRIES), SEND_BATCHES_IN_PARALLEL, async (batch) => {
      for (const [k, why] of await this.sendBatch(this.urls.targets, batch)) failed.set(k, why);
    });
    return failed;
  }

  /**
   * Sends result bodies to the results queue in as few SendMessageBatch calls as 10 entries and 256 KiB a call
   * allow. Returns the index of every body that could not be sent, with why.
   */
  async sendResults(bodies: readonly string[]): Promise<Map<number, string>> {
    const failed = new Map<number, string>();
    const batches: { body: string; k: number }[][] = [];
    let batch: { body: string; k: number }[] = [];
    let bytes = 0;
    bodies.forEach((body, k) => {
      const size = messageBytes(body);
      if (batch.length > 0 && (batch.length === SQS_BATCH_ENTRIES || bytes + size > SQS_BATCH_BYTES)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push({ body, k });
      bytes += size;
    });
    if (batch.length > 0) batches.push(batch);
    await Promise.all(
      batches.map(async (b) => {
        for (const [k, why] of await this.sendBatch(this.urls.results, b)) failed.set(k, why);
      }),
    );
    return failed;
  }

  /**
   * Up to 10 messages of a queue, waiting up to `waitSeconds` for the first (long polling: an empty queue costs one
   * request per wait, not one per loop). `signal` gives up waiting.
   */
  async receive(queue: ReadQueue, waitSeconds: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    this.requests++;
    const res = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url(queue),
        MaxNumberOfMessages: SQS_BATCH_ENTRIES,
        WaitTimeSeconds: Math.max(0, Math.min(20, Math.floor(waitSeconds))),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      signal ? { abortSignal: signal } : {},
    );
    return (res.Messages ?? []).flatMap((m) =>
      m.Body !== undefined && m.ReceiptHandle !== undefined
        ? [
            {
              body: m.Body,
              receipt: m.ReceiptHandle,
              receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
            },
          ]
        : [],
    );
  }

  /** Deletes messages read from a queue (10 to a DeleteMessageBatch). */
  async delete(queue: ReadQueue, receipts: readonly string[]): Promise<void> {
    await Promise.all(
      chunk(receipts, SQS_BATCH_ENTRIES).map(async (batch) => {
        this.requests++;
        await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.url(queue),
            Entries: batch.map((r, k) => ({ Id: String(k), ReceiptHandle: r })),
          }),
        );
      }),
    );
  }

  /** Makes messages read from a queue visible again after `seconds` (another run's results: left for it). */
  async release(queue: ReadQueue, receipts: readonly string[], seconds: number): Promise<void> {
    await Promise.all(
      chunk(receipts, SQS_BATCH_ENTRIES).map(async (batch) => {
        this.requests++;
        await this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.url(queue),
            Entries: batch.map((r, k) => ({ Id: String(k), ReceiptHandle: r, VisibilityTimeout: seconds })),
          }),
        );
      }),
    );
  }

  /** A target message the worker gives back for another attempt: it comes back after `seconds`, not at once. */
  async retryTargetLater(receipt: string, seconds: number): Promise<void> {
    this.requests++;
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.urls.targets,
        ReceiptHandle: receipt,
        VisibilityTimeout: seconds,
      }),
    );
  }

  private url(queue: ReadQueue): string {
    return queue === 'results' ? this.urls.results : this.urls.deadLetter;
  }

  private async sendBatch(url: string, batch: { body: string; k: number }[]): Promise<Map<number, string>> {
    const failed = new Map<number, string>();
    this.requests++;
    try {
      const res = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: batch.map(({ body, k }) => ({ Id: `m${k}`, MessageBody: body })),
        }),
      );
      for (const f of res.Failed ?? []) {
        const k = Number(f.Id?.slice(1));
        if (Number.isInteger(k)) failed.set(k, `${f.Code ?? 'Failed'}: ${f.Message ?? 'not sent'}`);
      }
    } catch (err) {
      for (const { k } of batch) failed.set(k, describeError(err));
    }
    return failed;
  }
}
