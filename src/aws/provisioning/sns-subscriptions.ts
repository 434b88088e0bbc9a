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
   * Subscribes `email` with the owner filter for `user`. A confirmed subscription with another owner filter is
   * corrected; one with a filter that is not an owner filter (the admin's) is left alone and reported as a conflict.
   * A new email subscription stays pending until its owner clicks the confirmation link.
   */
  async ensure(email: string, user: string): Promise<SubscriptionChange> {
    const policy = ownerFilterPolicy(user);
    const existing = await this.find(email);
    if (existing?.pending) return 'pending';
    if (existing) {
      const res = await this.client.send(
        new GetSubscriptionAttributesCommand({ SubscriptionArn: existing.arn }),
      );
      const current = res.Attributes?.FilterPolicy;
      if (current !== undefined && sameJson(current, policy)) return 'unchanged';
      if (current !== undefined && !isOwnerFilter(current)) return 'conflict';
      await this.client.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: existing.arn,
          AttributeName: 'FilterPolicyScope',
          AttributeValue: 'MessageAttributes',
        }),
      );
      await this.client.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: existing.arn,
          AttributeName: 'FilterPolicy',
          AttributeValue: policy,
        }),
      );
      return 'updated';
    }
    await this.client.send(
      new SubscribeCommand({
        TopicArn: this.topicArn,
        Protocol: 'email',
        Endpoint: email,
        ReturnSubscriptionArn: true,
        Attributes: { FilterPolicy: policy, FilterPolicyScope: 'MessageAttributes' },
      }),
    );
    return 'created';
  }

  /** Unsubscribes `email` when its subscription is this user's owner subscription; false otherwise. */
  async remove(email: string, user: string): Promise<boolean> {
    const existing = await this.find(email);
    if (!existing || existing.pending) return false;
    const res = await this.client.send(
      new GetSubscriptionAttributesCommand({ SubscriptionArn: existing.arn }),
    );
    const current = res.Attributes?.FilterPolicy;
    if (current === undefined || !sameJson(current, ownerFilterPolicy(user))) return false;
    await this.client.send(new UnsubscribeCommand({ SubscriptionArn: existing.arn }));
    return true;
  }

  /** The email of the owner subscription whose filter names `user`, if any (deprovision finds it this way). */
  async emailOf(user: string): Promise<string | undefined> {
    const wanted = ownerFilterPolicy(user);
    const pages = paginateListSubscriptionsByTopic({ client: this.client }, { TopicArn: this.topicArn });
    for await (const page of pages) {
      for (const s of page.Subscriptions ?? []) {
        if (s.Protocol !== 'email' || !s.SubscriptionArn?.startsWith('arn:') || !s.Endpoint) continue;
        const res = await this.client.send(
          new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn }),
        );
        if (res.Attributes?.FilterPolicy && sameJson(res.Attributes.FilterPolicy, wanted)) return s.Endpoint;
      }
    }
    return undefined;
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
