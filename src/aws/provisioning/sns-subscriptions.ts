import {
  GetSubscriptionAttributesCommand,
  paginateListSubscriptionsByTopic,
  SetSubscriptionAttributesCommand,
  type SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { OWNER_ATTRIBUTE } from '../sns.js';

/** SNS actions this adapter uses, on the stack's alert topic only. */
export const SNS_SUBSCRIBE_PERMISSIONS = [
  'sns:Subscribe',
  'sns:Unsubscribe',
  'sns:ListSubscriptionsByTopic',
  'sns:GetSubscriptionAttributes',
  'sns:SetSubscriptionAttributes',
] as const;

/** The filter policy of an owner's subscription: only messages with attribute owner = <user>. */
export function ownerFilterPolicy(user: string): string {
  return JSON.stringify({ [OWNER_ATTRIBUTE]: [user] });
}

/** Outcome of ensuring a subscription. */
export type SubscriptionChange = 'created' | 'updated' | 'unchanged' | 'pending' | 'conflict';

/** SNS subscriptions of owners to the alert topic, each filtered to that owner's alerts. */
export class OwnerSubscriptions {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  private async find(email: string): Promise<{ arn: string; pending: boolean } | undefined> {
    const pages = paginateListSubscriptionsByTopic({ client: this.client }, { TopicArn: this.topicArn });
    for await (const page of pages) {
      for (const s of page.Subscriptions ?? []) {
        if (
          s.Protocol === 'email' &&
          s.Endpoint?.toLowerCase() === email.toLowerCase() &&
          s.SubscriptionArn
        ) {
          const pending = !s.SubscriptionArn.startsWith('arn:');
          return { arn: s.SubscriptionArn, pending };
        }
      }
    }
    return undefined;
  }

  /**
   * What ensure() would do for `email` and `user`, without changing anything: a confirmed subscription with
   * the owner filter is `unchanged`, one with another owner's filter `updated`, one with a filter that is not an
   * owner filter (the admin's) a `conflict` left alone, an unconfirmed one `pending`, none `created`.
   */
  async inspect(email: string, user: string): Promise<{ change: SubscriptionChange; arn?: string }> {
    const existing = await this.find(email);
    if (!existing) return { change: 'created' };
    if (existing.pending) return { change: 'pending' };
    const res = await this.client.send(
      new GetSubscriptionAttributesCommand({ SubscriptionArn: existing.arn }),
    );
    const current = res.Attributes?.FilterPolicy;
    if (current !== undefined && sameJson(current, ownerFilterPolicy(user)))
      return { change: 'unchanged', arn: existing.arn };
    if (current !== undefined && !isOwnerFilter(current)) return { change: 'conflict', arn: existing.arn };
    return { change: 'updated', arn: existing.arn };
  }

  /**
   * Subscribes `email` with the owner filter for `user`. A confirmed subscription with another owner filter is
   * corrected; one with a filter that is not an owner filter (the admin's) is left alone and reported as a conflict.
   * A new email subscription stays pending until its owner clicks the confirmation link.
   */
  async ensure(email: string, user: string): Promise<SubscriptionChange> {
    const { change, arn } = await this.inspect(email, user);
    if (change === 'updated' && arn !== undefined) await this.setOwnerFilter(arn, user);
    if (change === 'created') await this.subscribe(email, user);
    return change;
  }

  private async setOwnerFilter(arn: string, user: string): Promise<void> {
    await this.client.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: arn,
        AttributeName: 'FilterPolicyScope',
        AttributeValue: 'MessageAttributes',
      }),
    );
    await this.client.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: arn,
        AttributeName: 'FilterPolicy',
        AttributeValue: ownerFilterPolicy(user),
      }),
    );
  }

  private async subscribe(email: string, user: string): Promise<void> {
    await this.client.send(
      new SubscribeCommand({
        TopicArn: this.topicArn,
        Protocol: 'email',
        Endpoint: email,
        ReturnSubscriptionArn: true,
        Attributes: { FilterPolicy: ownerFilterPolicy(user), FilterPolicyScope: 'MessageAttributes' },
      }),
    );
  }

  /**
   * The confirmed subscription whose filter names `user` (its email and ARN), if any: what deprovision removes.
   * Pending subscriptions have no ARN yet and cannot be removed.
   */
  async ownedBy(user: string): Promise<{ email: string; arn: string } | undefined> {
    const wanted = ownerFilterPolicy(user);
    const pages = paginateListSubscriptionsByTopic({ client: this.client }, { TopicArn: this.topicArn });
    for await (const page of pages) {
      for (const s of page.Subscriptions ?? []) {
        if (s.Protocol !== 'email' || !s.SubscriptionArn?.startsWith('arn:') || !s.Endpoint) continue;
        const res = await this.client.send(
          new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn }),
        );
        if (res.Attributes?.FilterPolicy && sameJson(res.Attributes.FilterPolicy, wanted))
          return { email: s.Endpoint, arn: s.SubscriptionArn };
      }
    }
    return undefined;
  }

  /** Removes a subscription found by ownedBy(). */
  async unsubscribe(arn: string): Promise<void> {
    await this.client.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
  }
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

function isOwnerFilter(policy: string): boolean {
  try {
    const parsed = JSON.parse(policy) as Record<string, unknown>;
    return Object.keys(parsed).length === 1 && Array.isArray(parsed[OWNER_ATTRIBUTE]);
  } catch {
    return false;
  }
}
