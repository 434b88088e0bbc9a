/**
 * What the watchdog itself costs a month, item by item, before and after the AWS free tiers a new account has,
 * and which CloudWatch metric API keeps it cheapest. Pure: the figures are inputs, the prices constants
 * (us-east-1 list prices, arm64 Lambda; docs/costs.md has the table and the sources).
 */
import { HOURS_PER_MONTH } from './prices.js';
import { sweepIntervalHours } from './usage.js';

/** List prices (USD) and monthly free allowances the estimate uses. */
export const AWS_PRICES = {
  lambdaPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  lambdaFreeGbSeconds: 400_000,
  lambdaFreeRequests: 1_000_000,
  /** GetMetricData: per 1,000 metrics requested; no free tier. */
  getMetricDataPer1000Metrics: 0.01,
  /** GetMetricStatistics, ListMetrics, PutMetricData, ...: per 1,000 requests after the free ones. */
  metricApiPer1000Requests: 0.01,
  metricApiFreeRequests: 1_000_000,
  customMetricPerMonth: 0.3,
  customMetricsFree: 10,
  alarmPerMonth: 0.1,
  alarmsFree: 10,
  dashboardPerMonth: 3,
  dashboardsFree: 3,
  kmsKeyPerMonth: 1,
  snsEmailPer100k: 2,
  snsEmailsFree: 1_000,
  logsIngestPerGb: 0.5,
  logsFreeGb: 5,
  /** SSM Parameter Store standard parameters and their API calls (standard throughput): free. */
  ssmStandardParameter: 0,
} as const;

/** The share of CloudWatch's free API requests the sweep may plan to use with GetMetricStatistics. */
export const METRIC_FREE_SHARE = 0.5;

/** Which metric API keeps a month of sweeps cheapest: free GetMetricStatistics while it fits, else batching. */
export function chooseMetricsApi(seriesPerMonth: number): 'GetMetricStatistics' | 'GetMetricData' {
  return seriesPerMonth <= AWS_PRICES.metricApiFreeRequests * METRIC_FREE_SHARE
    ? 'GetMetricStatistics'
    : 'GetMetricData';
}

/** Sweeps a month for an EventBridge schedule. */
export function runsPerMonth(schedule: string): number {
  return HOURS_PER_MONTH / sweepIntervalHours(schedule);
}

/** What the estimate is computed from; defaults describe a class swept hourly. */
export interface SelfCostInput {
  /** Running instances (the sweep reads at most 3 series of each: CPU, then network for low-CPU ones). */
  instances: number;
  owners: number;
  sweepsPerMonth: number;
  digestsPerMonth: number;
  launchEventsPerMonth: number;
  /** Average billed seconds of a sweep and its memory (MB). */
  sweepSeconds: number;
  sweepMemoryMb: number;
  /** CloudWatch alarms the stack creates, and dashboards. */
  alarms: number;
  dashboards: number;
  customMetrics: number;
  customerManagedKey: boolean;
  /** Alert and digest emails a month (all subscribers). */
  emailsPerMonth: number;
  logGbPerMonth: number;
}

/** One line of the estimate. */
export interface SelfCostItem {
  item: string;
  quantity: string;
  /** At list price, before any free tier. */
  listUsd: number;
  /** What is left after the free tier of a new account. */
  billedUsd: number;
  note?: string;
}

/** The itemised estimate. */
export interface SelfCost {
  items: SelfCostItem[];
  listUsd: number;
  billedUsd: number;
  metricsApi: 'GetMetricStatistics' | 'GetMetricData';
}

const OTHER_SECONDS = 1;
const OTHER_MEMORY_MB = 256;

/** The monthly cost of the stack, item by item (Lambda, metric API, custom metrics, alarms, KMS, SNS, logs). */
export function selfCost(input: SelfCostInput): SelfCost {
  const p = AWS_PRICES;
  const invocations = input.sweepsPerMonth + input.digestsPerMonth + input.launchEventsPerMonth;
  const gbSeconds =
    input.sweepsPerMonth * input.sweepSeconds * (input.sweepMemoryMb / 1024) +
    (input.digestsPerMonth + input.launchEventsPerMonth) * OTHER_SECONDS * (OTHER_MEMORY_MB / 1024);
  const lambdaList = gbSeconds * p.lambdaPerGbSecond + (invocations / 1e6) * p.lambdaPerMillionRequests;
  const lambdaBilled =
    Math.max(0, gbSeconds - p.lambdaFreeGbSeconds) * p.lambdaPerGbSecond +
    (Math.max(0, invocations - p.lambdaFreeRequests) / 1e6) * p.lambdaPerMillionRequests;

  // At most three series per instance per sweep (CPU for all, network for the low-CPU ones).
  const series = input.instances * 3 * input.sweepsPerMonth;
  const api = chooseMetricsApi(series);
  const metricList =
    (series / 1000) * (api === 'GetMetricData' ? p.getMetricDataPer1000Metrics : p.metricApiPer1000Requests);
  const metricBilled =
    api === 'GetMetricData'
      ? metricList
      : (Math.max(0, series - p.metricApiFreeRequests) / 1000) * p.metricApiPer1000Requests;

  const items: SelfCostItem[] = [
    {
      item: 'Lambda',
      quantity: `${Math.round(invocations)} invocations, ${Math.round(gbSeconds)} GB-s`,
      listUsd: lambdaList,
      billedUsd: lambdaBilled,
    },
    {
      item: `CloudWatch metrics API (${api})`,
      quantity: `${Math.round(series)} series read`,
      listUsd: metricList,
      billedUsd: metricBilled,
      note:
        api === 'GetMetricStatistics'
          ? 'inside the 1,000,000 free API requests a month'
          : 'GetMetricData has no free tier; batching keeps it fast',
    },
    {
      item: 'custom metrics',
      quantity: `${input.customMetrics}`,
      listUsd: input.customMetrics * p.customMetricPerMonth,
      billedUsd: Math.max(0, input.customMetrics - p.customMetricsFree) * p.customMetricPerMonth,
      note: 'month counters live in SSM standard parameters (free), not in custom metrics',
    },
    {
      item: 'alarms',
      quantity: `${input.alarms}`,
      listUsd: input.alarms * p.alarmPerMonth,
      billedUsd: Math.max(0, input.alarms - p.alarmsFree) * p.alarmPerMonth,
    },
    {
      item: 'dashboard',
      quantity: `${input.dashboards}`,
      listUsd: input.dashboards * p.dashboardPerMonth,
      billedUsd: Math.max(0, input.dashboards - p.dashboardsFree) * p.dashboardPerMonth,
    },
    {
      item: 'KMS key (topic encryption)',
      quantity: input.customerManagedKey ? '1 key' : 'none',
      listUsd: input.customerManagedKey ? p.kmsKeyPerMonth : 0,
      billedUsd: input.customerManagedKey ? p.kmsKeyPerMonth : 0,
      note: input.customerManagedKey
        ? 'asked for with --param topicKey=true'
        : 'topic not encrypted with a key of its own',
    },
    {
      item: 'SNS email',
      quantity: `${Math.round(input.emailsPerMonth)} emails`,
      listUsd: (input.emailsPerMonth / 100_000) * p.snsEmailPer100k,
      billedUsd: (Math.max(0, input.emailsPerMonth - p.snsEmailsFree) / 100_000) * p.snsEmailPer100k,
    },
    {
      item: 'CloudWatch Logs',
      quantity: `${input.logGbPerMonth.toFixed(3)} GB`,
      listUsd: input.logGbPerMonth * p.logsIngestPerGb,
      billedUsd: Math.max(0, input.logGbPerMonth - p.logsFreeGb) * p.logsIngestPerGb,
    },
    { item: 'SSM parameters (month counters, keys)', quantity: 'standard tier', listUsd: 0, billedUsd: 0 },
  ];
  const rounded = items.map((i) => ({ ...i, listUsd: round4(i.listUsd), billedUsd: round4(i.billedUsd) }));
  return {
    items: rounded,
    listUsd: round4(items.reduce((s, i) => s + i.listUsd, 0)),
    billedUsd: round4(items.reduce((s, i) => s + i.billedUsd, 0)),
    metricsApi: api,
  };
}

/** The stack's shape: alarms and dashboards it creates (resources/alarms.yml, dashboard.yml). */
export const STACK_SHAPE = { alarms: 8, dashboards: 1, customMetrics: 0 } as const;

/**
 * The estimate for a fleet of `instances` with `owners` owners under a policy schedule, with the assumptions the
 * digest and `status` state: a sweep takes 1 s plus 0.1 s per 100 instances at 256 MB, one launch event per
 * instance a day, an email per owner on 8 days and the admin's digest every day, and a sweep's log line of about
 * 4 KB plus 110 bytes per instance (the decisions that are not "none"; measured: 1.1 MB at 10,000 instances).
 */
export function selfCostFor(fleet: {
  instances: number;
  owners: number;
  schedule: string;
  digestSchedule: string;
  customerManagedKey: boolean;
  /** Extra sweep schedules (quiet hours: warning times, window starts, morning starts). */
  extraSchedules?: readonly string[];
}): SelfCost {
  const sweeps =
    runsPerMonth(fleet.schedule) + (fleet.extraSchedules ?? []).reduce((n, s) => n + runsPerMonth(s), 0);
  const digests = runsPerMonth(fleet.digestSchedule);
  return selfCost({
    instances: fleet.instances,
    owners: fleet.owners,
    sweepsPerMonth: sweeps,
    digestsPerMonth: digests,
    launchEventsPerMonth: fleet.instances * 30,
    sweepSeconds: 1 + fleet.instances / 1000,
    sweepMemoryMb: 256,
    alarms: STACK_SHAPE.alarms,
    dashboards: STACK_SHAPE.dashboards,
    customMetrics: STACK_SHAPE.customMetrics,
    customerManagedKey: fleet.customerManagedKey,
    emailsPerMonth: digests + fleet.owners * 8 + sweeps * 0.1,
    logGbPerMonth: (sweeps * (4_000 + 110 * fleet.instances)) / 1e9,
  });
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
