import {
  type CloudFormationClient,
  DescribeStacksCommand,
  paginateListStackResources,
} from '@aws-sdk/client-cloudformation';
import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { type CloudWatchLogsClient, paginateFilterLogEvents } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  GetSubscriptionAttributesCommand,
  paginateListSubscriptionsByTopic,
  type SNSClient,
} from '@aws-sdk/client-sns';
import type { AlarmFacts, FunctionFacts, LogEvent, RuleFacts, SubscriptionFacts } from '../core/status.js';

/**
 * IAM actions `cost-watchdog status` uses (all read-only; README "IAM permissions used"). sts:GetCallerIdentity,
 * the CLI's first check, needs no permission.
 */
export const STATUS_PERMISSIONS = [
  'cloudformation:DescribeStacks',
  'cloudformation:ListStackResources',
  'lambda:GetFunctionConfiguration',
  'sns:ListSubscriptionsByTopic',
  'sns:GetSubscriptionAttributes',
  'events:DescribeRule',
  'logs:FilterLogEvents',
  'cloudwatch:DescribeAlarms',
] as const;

/** One resource of a stack. */
export interface StackResource {
  logicalId: string;
  type: string;
  physicalId?: string;
}

/** The SDK clients status reads with (all in the stack's region). */
export interface StackStatusClients {
  cloudformation: CloudFormationClient;
  lambda: LambdaClient;
  sns: SNSClient;
  events: EventBridgeClient;
  logs: CloudWatchLogsClient;
  cloudwatch: CloudWatchClient;
}

/** Reads what `cost-watchdog status` shows about a deployed stack. Each method reads one thing. */
export class StackInspector {
  constructor(private readonly c: StackStatusClients) {}

  /** The stack's status, outputs and last deploy; undefined when there is no such stack. */
  async stack(name: string): Promise<
    | {
        status: string;
        updatedAt?: Date;
        reason?: string;
        outputs: Record<string, string>;
        parameters: Record<string, string>;
      }
    | undefined
  > {
    try {
      const res = await this.c.cloudformation.send(new DescribeStacksCommand({ StackName: name }));
      const s = res.Stacks?.[0];
      if (!s) return undefined;
      const updatedAt = s.LastUpdatedTime ?? s.CreationTime;
      return {
        status: s.StackStatus ?? 'UNKNOWN',
        ...(updatedAt ? { updatedAt: new Date(updatedAt) } : {}),
        ...(s.StackStatusReason ? { reason: s.StackStatusReason } : {}),
        outputs: Object.fromEntries((s.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? ''])),
        parameters: Object.fromEntries(
          (s.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? '']),
        ),
      };
    } catch (err) {
      // CloudFormation answers a missing stack with ValidationError "Stack with id X does not exist".
      if (/does not exist/.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  /** Every resource of the stack (logical id, type, physical id). */
  async resources(name: string): Promise<StackResource[]> {
    const out: StackResource[] = [];
    for await (const page of paginateListStackResources(
      { client: this.c.cloudformation },
      { StackName: name },
    )) {
      for (const r of page.StackResourceSummaries ?? []) {
        out.push({
          logicalId: r.LogicalResourceId ?? '',
          type: r.ResourceType ?? '',
          ...(r.PhysicalResourceId ? { physicalId: r.PhysicalResourceId } : {}),
        });
      }
    }
    return out;
  }

  /** A function's state and the policy hash it was deployed with; undefined when it does not exist. */
  async functionFacts(functionName: string): Promise<FunctionFacts | undefined> {
    try {
      const f = await this.c.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      const hash = f.Environment?.Variables?.POLICY_SHA256;
      return {
        name: functionName,
        ...(f.State ? { state: f.State } : {}),
        ...(f.LastUpdateStatus ? { lastUpdateStatus: f.LastUpdateStatus } : {}),
        ...(hash ? { policySha256: hash } : {}),
      };
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  /** The topic's subscriptions; the owner of a confirmed one from its filter policy (`owner: [name]`). */
  async subscriptions(topicArn: string): Promise<SubscriptionFacts[]> {
    const out: SubscriptionFacts[] = [];
    for await (const page of paginateListSubscriptionsByTopic(
      { client: this.c.sns },
      { TopicArn: topicArn },
    )) {
      for (const s of page.Subscriptions ?? []) {
        const pending = !s.SubscriptionArn?.startsWith('arn:');
        const sub: SubscriptionFacts = {
          protocol: s.Protocol ?? '?',
          endpoint: s.Endpoint ?? '?',
          pending,
        };
        if (!pending && s.SubscriptionArn) {
          const attrs = await this.c.sns.send(
            new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn }),
          );
          const owner = ownerOfFilter(attrs.Attributes?.FilterPolicy);
          if (owner !== undefined) sub.owner = owner;
        }
        out.push(sub);
      }
    }
    return out;
  }

  /** A schedule rule's expression and whether it is enabled; undefined when it does not exist. */
  async rule(name: string): Promise<RuleFacts | undefined> {
    try {
      const r = await this.c.events.send(new DescribeRuleCommand({ Name: name }));
      return { expression: r.ScheduleExpression ?? '?', enabled: r.State === 'ENABLED' };
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  /**
   * The log events since `since` of a function's log group that mention `term`, a run's end ("Invoke Error") or a
   * timeout; [] when the group does not exist yet (the function never ran).
   */
  async runLog(functionName: string, since: Date, term: string): Promise<LogEvent[]> {
    const out: LogEvent[] = [];
    try {
      for await (const page of paginateFilterLogEvents(
        { client: this.c.logs },
        {
          logGroupName: `/aws/lambda/${functionName}`,
          startTime: since.getTime(),
          filterPattern: `?"${term}" ?"Invoke Error" ?"Task timed out"`,
        },
      )) {
        for (const e of page.events ?? []) {
          if (e.timestamp !== undefined && e.message !== undefined) {
            out.push({ timestamp: e.timestamp, message: e.message });
          }
        }
      }
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return [];
      throw err;
    }
    return out;
  }

  /** The stack's alarms (names starting with `prefix`) that are in ALARM. */
  async alarmsInAlarm(prefix: string): Promise<AlarmFacts[]> {
    const res = await this.c.cloudwatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, StateValue: 'ALARM', MaxRecords: 100 }),
    );
    return (res.MetricAlarms ?? [])
      .filter((a) => a.StateValue === 'ALARM')
      .map((a) => ({
        name: a.AlarmName ?? '?',
        ...(a.StateUpdatedTimestamp ? { since: new Date(a.StateUpdatedTimestamp) } : {}),
        reason: a.AlarmDescription ?? a.StateReason ?? '',
      }));
  }
}

/** The owner named by a subscription's filter policy (`{"owner": ["alice"]}`); undefined for the admin's. */
function ownerOfFilter(filterPolicy: string | undefined): string | undefined {
  if (!filterPolicy) return undefined;
  try {
    const owner = (JSON.parse(filterPolicy) as { owner?: unknown }).owner;
    return Array.isArray(owner) && typeof owner[0] === 'string' ? owner[0] : undefined;
  } catch {
    return undefined;
  }
}
