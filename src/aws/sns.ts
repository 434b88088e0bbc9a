import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertSink } from '../core/ports.js';
import { ALERT_MAX_BYTES, type Alert, alertMessage } from '../core/report.js';

/** IAM actions this adapter uses (on the stack's own topic only). */
export const SNS_PERMISSIONS = ['sns:Publish'] as const;

/** Message attribute that routes a message to the admin subscription (filter policy `audience: [admin]`). */
export const AUDIENCE_ADMIN = { name: 'audience', value: 'admin' } as const;
/** Message attribute that routes a message to one owner's subscription (filter policy `owner: [<name>]`). */
export const OWNER_ATTRIBUTE = 'owner';

/** SNS accepts messages up to 256 KiB. */
export const MAX_MESSAGE_BYTES = ALERT_MAX_BYTES;

/** SNS: publishes alerts to the stack's topic with MessageStructure json (email text + JSON for the rest). */
export class Notifier implements AlertSink {
  /** Messages published (tests and the report count them). */
  published = 0;

  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  /** Publishes one alert; returns the MessageId. */
  async publish(alert: Alert): Promise<string | undefined> {
    // `default` serves every protocol not named (email-json, sqs, lambda, https); `email` gets the text.
    const message = alertMessage(alert);
    if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) {
      throw new Error(`alert "${alert.subject}" is ${Buffer.byteLength(message)} bytes, over the SNS limit`);
    }
    const attributes = alert.owner
      ? { [OWNER_ATTRIBUTE]: { DataType: 'String', StringValue: alert.owner } }
      : { [AUDIENCE_ADMIN.name]: { DataType: 'String', StringValue: AUDIENCE_ADMIN.value } };
    const res = await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: toSubject(alert.subject),
        Message: message,
        MessageStructure: 'json',
        MessageAttributes: attributes,
      }),
    );
    this.published++;
    return res.MessageId;
  }
}

/** SNS subjects: ASCII printable, no newlines, at most 100 characters. */
function toSubject(subject: string): string {
  const clean = subject.replace(/[^\x20-\x7e]/g, '-').trim();
  return clean.length > 100 ? `${clean.slice(0, 97)}...` : clean || 'cost-watchdog';
}
