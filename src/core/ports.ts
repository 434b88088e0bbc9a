/**
 * The ports between the use cases (src/jobs) and the services they act on (src/aws): what a new alert channel or
 * a new resource kind implements. Plain interfaces, no AWS types: jobs and tests see only these; in-memory
 * implementations stand in for them in unit tests (test/unit/in-memory-fleet.ts, test/unit/ports.test.ts).
 */
import type { Instance, InstanceMetrics, InstanceTypeInfo, ResourceKind, SeriesName } from './instance.js';
import type { Alert } from './report.js';
import type { Rule } from './rules.js';

/** Where alerts go. SNS today (src/aws/sns.ts); a Slack, Teams or webhook channel is one more implementation. */
export interface AlertSink {
  /** Delivers one alert (admin when `alert.owner` is absent, else that owner); throws when it could not. */
  publish(alert: Alert): Promise<unknown>;
}

/** What happened to one resource when it was tagged, untagged or stopped. */
export interface ResourceResult {
  instanceId: string;
  ok: boolean;
  error?: string;
  /** State after the call, as the service reported it. */
  state?: string;
  /** State before a stop: `stopped` / `stopping` means someone else had already stopped it. */
  previousState?: string;
}

/**
 * The resources of one kind in one account x region that the watchdog watches and acts on: list the running
 * ones, look one up, learn their type facts and stop protection, write and remove the watchdog's tags, and stop
 * them (never anything else). EC2 instances are the first implementation (src/aws/ec2.ts); SageMaker notebook
 * instances (src/aws/sagemaker.ts) and RDS DB instances and clusters (src/aws/rds.ts) the others.
 */
export interface FleetPort {
  readonly region: string;
  /** What it holds; absent = EC2 instances. */
  readonly kind?: ResourceKind;
  /** Every running resource (only running ones are ever acted on). */
  listRunning(): Promise<Instance[]>;
  /**
   * The same, page by page as the service answers, the next page already asked for: a sweep judges one page while
   * the next is on its way. Absent = listRunning() as one page.
   */
  runningPages?(): AsyncIterable<Instance[]>;
  /** One resource by id, or null when it does not exist or is not running. */
  getRunning(instanceId: string): Promise<Instance | null>;
  /** Type facts (free-tier eligibility for this account, GPU, ...) of each distinct type. */
  describeTypes(types: Iterable<string>): Promise<Map<string, InstanceTypeInfo>>;
  /** Whether the resource refuses an API stop (EC2 stop protection; `false` where a service has none). */
  isStopProtected(instanceId: string): Promise<boolean>;
  tag(instanceIds: string[], tags: Record<string, string>): Promise<ResourceResult[]>;
  untag(instanceIds: string[], keys: string[]): Promise<ResourceResult[]>;
  /** Stops (hibernates when asked and supported); never deletes or terminates. One bad id never fails the rest. */
  stop(instanceIds: string[], hibernate?: boolean): Promise<ResourceResult[]>;
}

/**
 * Starting again resources the watchdog stopped itself (quiet hours' morning start), in one account x region:
 * nothing else is ever started. EC2 implements it (src/aws/ec2.ts); its IAM permission is conditioned on the same
 * stop record the listing filters on.
 */
export interface RestartPort {
  readonly region: string;
  /** Stopped resources whose stop record says the sweep stopped them for `rule` (tags stop-rule and stopped-by). */
  listStoppedFor(rule: Rule): Promise<Instance[]>;
  /** Starts the resources; one bad id never fails the rest. */
  start(instanceIds: string[]): Promise<ResourceResult[]>;
  tag(instanceIds: string[], tags: Record<string, string>): Promise<ResourceResult[]>;
}

/** One metric series a resource needs for its idle rule: where it lives and which statistic is read. */
export interface SeriesQuery {
  series: SeriesName;
  namespace: string;
  metricName: string;
  dimensions: { name: string; value: string }[];
  stat: 'Average' | 'Sum' | 'Maximum' | 'Minimum';
}

/** The series one resource needs. */
export interface MetricsRequest {
  instanceId: string;
  queries: SeriesQuery[];
}

/**
 * Metric datapoints at the watchdog's 5-minute period for many resources, handed over batch by batch (each
 * resource once all its series are in) so a caller can judge it and let its datapoints go. A resource without
 * datapoints gets empty series (unknown, never idle). A failure ends the stream with its error.
 */
export interface MetricsPort {
  stream(
    requests: MetricsRequest[],
    from: Date,
    to: Date,
    options?: StreamOptions,
  ): AsyncGenerator<[instanceId: string, metrics: InstanceMetrics][]>;
}

/** How to read: CloudWatch's batched GetMetricData (no free tier) or GetMetricStatistics (free up to 1M a month). */
export interface StreamOptions {
  api?: 'GetMetricData' | 'GetMetricStatistics';
}
