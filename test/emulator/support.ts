/**
 * Helpers for every emulator test: where the shared moto server is, SDK clients for it, and seeding / reading
 * back state. Only ever talks to the local emulator with dummy credentials.
 */
import { CloudWatchClient, type MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { type AwsTarget, clientConfig } from '../../src/aws/clients.js';

export const DEFAULT_REGION = 'us-east-1';
/** The account moto uses for the dummy credentials. */
export const EMULATOR_ACCOUNT = '123456789012';
export const DUMMY_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
/** CloudWatch's EC2 metrics are 5-minute points (basic monitoring). */
export const METRIC_STEP_MS = 5 * 60 * 1000;
/** PutMetricData accepts at most 1000 datums per call (moto does not enforce it; AWS does). */
const MAX_DATUMS_PER_PUT = 1000;

/** Base URL of this worker's moto server (global-setup.ts, chosen in setup-env.ts), e.g. http://127.0.0.1:41234. */
export function endpoint(): string {
  return process.env.EMULATOR_ENDPOINT ?? '';
}

/** An AwsTarget (src/aws/clients.ts) for the emulator in `region`. */
export function target(
  region = DEFAULT_REGION,
): AwsTarget & { endpoint: string; credentials: typeof DUMMY_CREDENTIALS } {
  return { region, endpoint: endpoint(), credentials: DUMMY_CREDENTIALS };
}

/**
 * Environment variables for a child process (the CLI, `serverless invoke local`) that must talk to the
 * emulator: the standard AWS_ENDPOINT_URL the SDK reads, dummy credentials, no profile, no instance metadata.
 */
export function awsEnv(region = DEFAULT_REGION): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint(),
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/cost-watchdog-emulator/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/cost-watchdog-emulator/credentials',
  };
}

/** SDK clients for the emulator, built with the project's own clientConfig(). */
export function clients(region = DEFAULT_REGION) {
  const config = clientConfig(target(region));
  return {
    ec2: new EC2Client(config),
    cloudwatch: new CloudWatchClient(config),
    sns: new SNSClient(config),
    iam: new IAMClient(config),
    ssm: new SSMClient(config),
    sts: new STSClient(config),
  };
}

/** Forgets every resource in every region and account (POST /moto-api/reset). Call in beforeEach. */
export async function resetEmulator(): Promise<void> {
  const res = await fetch(`${endpoint()}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
  amiCache.clear();
}

/** One SNS Publish as moto recorded it. */
export interface SentMessage {
  topicArn: string;
  region: string;
  messageId: string;
  /** The Message parameter as published (with MessageStructure=json: the JSON object as a string). */
  message: string;
  subject: string | undefined;
  /** Message attributes, name -> string value (Binary values as moto stores them). */
  attributes: Record<string, string>;
}

interface MotoTopic {
  arn: string;
  sent_notifications?: [
    string,
    string,
    string | null,
    Record<string, { Type: string; Value: string }> | null,
  ][];
}

/**
 * Every message published to any SNS topic since the last reset, in publish order per topic. Read from moto's
 * state dump GET /moto-api/data.json, where each topic in `sns.Topic[]` keeps `sent_notifications` as
 * [messageId, message, subject, messageAttributes, messageGroupId] tuples.
 */
export async function sentMessages(topicArn?: string): Promise<SentMessage[]> {
  const res = await fetch(`${endpoint()}/moto-api/data.json`);
  if (!res.ok) throw new Error(`moto data.json failed: HTTP ${res.status}`);
  const data = (await res.json()) as { sns?: { Topic?: MotoTopic[] } };
  const out: SentMessage[] = [];
  for (const topic of data.sns?.Topic ?? []) {
    if (topicArn && topic.arn !== topicArn) continue;
    for (const [messageId, message, subject, attrs] of topic.sent_notifications ?? []) {
      out.push({
        topicArn: topic.arn,
        region: topic.arn.split(':')[3] ?? '',
        messageId,
        message,
        subject: subject ?? undefined,
        attributes: Object.fromEntries(Object.entries(attrs ?? {}).map(([k, v]) => [k, String(v.Value)])),
      });
    }
  }
  return out;
}

/** Creates (or returns, CreateTopic is idempotent) an SNS topic; returns its ARN. */
export async function createTopic(region = DEFAULT_REGION, name = 'cost-watchdog-alerts'): Promise<string> {
  const sns = new SNSClient(clientConfig(target(region)));
  const res = await sns.send(new CreateTopicCommand({ Name: name }));
  if (!res.TopicArn) throw new Error('CreateTopic returned no TopicArn');
  return res.TopicArn;
}

const amiCache = new Map<string, string>();

/** An Amazon Linux 2023 x86_64 AMI from moto's built-in image catalogue for `region`. */
export async function amazonLinuxAmi(region = DEFAULT_REGION): Promise<string> {
  const key = `${endpoint()}|${region}`;
  const cached = amiCache.get(key);
  if (cached) return cached;
  const ec2 = new EC2Client(clientConfig(target(region)));
  const res = await ec2.send(
    new DescribeImagesCommand({
      Owners: ['amazon'],
      Filters: [
        { Name: 'name', Values: ['al2023-ami-2023*-x86_64'] },
        { Name: 'architecture', Values: ['x86_64'] },
      ],
    }),
  );
  const id = res.Images?.find((i) => i.ImageId)?.ImageId;
  if (!id) throw new Error(`no Amazon Linux 2023 AMI in moto's catalogue for ${region}`);
  amiCache.set(key, id);
  return id;
}

/** What to launch. Everything is optional: a running t3.micro with no tags. */
export interface InstanceSpec {
  /** Instance type, e.g. 't3.micro' (default). */
  type?: string;
  tags?: Record<string, string>;
  /** How many identical instances (default 1). */
  count?: number;
  /** Launch with DisableApiStop (stop protection). */
  stopProtected?: boolean;
  /** Launch with hibernation configured. */
  hibernate?: boolean;
  /** A one-time spot instance (InstanceLifecycle 'spot'). */
  spot?: boolean;
  imageId?: string;
  /** Extra RunInstances parameters, merged last. */
  extra?: Partial<RunInstancesCommandInput>;
}

/**
 * Launches instances in `region` (moto puts them in `running` at once, LaunchTime = now) and returns their
 * ids, in spec order. moto accepts any instance type string, so typos here are not caught.
 */
export async function seedInstances(region: string, ...specs: InstanceSpec[]): Promise<string[]> {
  const ec2 = new EC2Client(clientConfig(target(region)));
  const ids: string[] = [];
  for (const spec of specs.length ? specs : [{}]) {
    const count = spec.count ?? 1;
    const tags = Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const res = await ec2.send(
      new RunInstancesCommand({
        ImageId: spec.imageId ?? (await amazonLinuxAmi(region)),
        InstanceType: (spec.type ?? 't3.micro') as RunInstancesCommandInput['InstanceType'],
        MinCount: count,
        MaxCount: count,
        ...(tags.length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
        ...(spec.stopProtected ? { DisableApiStop: true } : {}),
        ...(spec.hibernate ? { HibernationOptions: { Configured: true } } : {}),
        ...(spec.spot
          ? { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } } }
          : {}),
        ...spec.extra,
      }),
    );
    for (const i of res.Instances ?? []) if (i.InstanceId) ids.push(i.InstanceId);
  }
  return ids;
}

/** A constant, or a value per point (its timestamp and index). */
export type MetricValue = number | ((at: Date, index: number) => number);

/** The series putMetrics() writes; gpu goes to the CloudWatch agent's namespace. */
export interface MetricValues {
  /** CPUUtilization, percent (AWS/EC2). */
  cpu?: MetricValue;
  /** NetworkIn, bytes per 5-minute point (AWS/EC2). */
  networkIn?: MetricValue;
  /** NetworkOut, bytes per 5-minute point (AWS/EC2). */
  networkOut?: MetricValue;
  /** nvidia_smi_utilization_gpu, percent (CWAgent). */
  gpu?: MetricValue;
}

const SERIES: Record<keyof MetricValues, { namespace: string; name: string; unit: 'Percent' | 'Bytes' }> = {
  cpu: { namespace: 'AWS/EC2', name: 'CPUUtilization', unit: 'Percent' },
  networkIn: { namespace: 'AWS/EC2', name: 'NetworkIn', unit: 'Bytes' },
  networkOut: { namespace: 'AWS/EC2', name: 'NetworkOut', unit: 'Bytes' },
  gpu: { namespace: 'CWAgent', name: 'nvidia_smi_utilization_gpu', unit: 'Percent' },
};

/**
 * Writes the metrics EC2 would have published for `instanceId` (moto creates none): one point every 5 minutes
 * from `from` up to and including `to`, dimension InstanceId, in PutMetricData calls of at most 1000 datums.
 * Returns the number of points per series.
 */
export async function putMetrics(
  region: string,
  instanceId: string,
  values: MetricValues,
  from: Date,
  to: Date,
): Promise<number> {
  const cw = new CloudWatchClient(clientConfig(target(region)));
  const times: Date[] = [];
  for (let t = from.getTime(); t <= to.getTime(); t += METRIC_STEP_MS) times.push(new Date(t));
  const byNamespace = new Map<string, MetricDatum[]>();
  for (const [series, value] of Object.entries(values) as [keyof MetricValues, MetricValue | undefined][]) {
    if (value === undefined) continue;
    const { namespace, name, unit } = SERIES[series];
    const datums = byNamespace.get(namespace) ?? [];
    times.forEach((at, i) => {
      datums.push({
        MetricName: name,
        Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
        Timestamp: at,
        Value: typeof value === 'function' ? value(at, i) : value,
        Unit: unit,
      });
    });
    byNamespace.set(namespace, datums);
  }
  for (const [namespace, datums] of byNamespace) {
    for (let i = 0; i < datums.length; i += MAX_DATUMS_PER_PUT) {
      await cw.send(
        new PutMetricDataCommand({
          Namespace: namespace,
          MetricData: datums.slice(i, i + MAX_DATUMS_PER_PUT),
        }),
      );
    }
  }
  return times.length;
}
