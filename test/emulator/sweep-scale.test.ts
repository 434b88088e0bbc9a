/**
 * A fleet of 200 instances in two regions through the real sweep handler against moto: every instance is
 * evaluated, and the AWS calls are batched as DESIGN.md says (counted at the SDK client, per region).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/aws/clients.js';
import { MAX_QUERIES_PER_CALL } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import {
  hoursAfter,
  IDLE,
  launchTimeOf,
  metricsSinceLaunch,
  policyFile,
  recordingServices,
  sweepHandler,
} from './sweep-scenario.js';
import { createTopic, resetEmulator, seedInstances, target } from './support.js';

/**
 * 200 instances, a few of them idle: CPU of every instance first (170 and 30 queries: one GetMetricData call each),
 * then network only for the instances whose CPU is low (the idle ones: one more call each); never more than 500
 * queries in a call.
 */
const FLEET = { 'us-east-1': 170, 'eu-west-1': 30 } as const;
type Region = keyof typeof FLEET;
const REGIONS = Object.keys(FLEET) as Region[];
/** The metric series the sweep asks for per instance: CPUUtilization, NetworkIn, NetworkOut. */
const SERIES_PER_INSTANCE = 3;

beforeEach(async () => {
  await resetEmulator();
});

/** Running instances in DescribeInstances order (the order the sweep builds its queries in). */
async function listed(region: string): Promise<string[]> {
  const ec2 = new Ec2Adapter(new EC2Client(clientConfig(target(region))), region);
  return (await ec2.listRunning()).map((i) => i.instanceId);
}

describe('a sweep of 200 instances in two regions', () => {
  it('evaluates every instance and fetches metrics in batches of at most 500 queries', async () => {
    // Prepare: idle metrics for the first and last instance of each region and for the one whose three
    // queries straddle the 500-query boundary; no metrics for the rest
    const topicArn = await createTopic('us-east-1');
    const ids: Record<Region, string[]> = { 'us-east-1': [], 'eu-west-1': [] };
    for (const region of REGIONS) {
      await seedInstances(region, { type: 't3.micro', count: FLEET[region] });
      ids[region] = await listed(region);
    }
    const all = REGIONS.flatMap((r) => ids[r]);
    const launch = new Date(
      Math.max(...(await Promise.all(REGIONS.map((r) => launchTimeOf(r, ids[r])))).map((d) => d.getTime())),
    );
    const t = hoursAfter(launch, 3);
    const straddling = Math.floor(MAX_QUERIES_PER_CALL / SERIES_PER_INSTANCE);
    const idle: Record<Region, string[]> = {
      'us-east-1': [0, straddling, FLEET['us-east-1'] - 1].map((k) => ids['us-east-1'][k] as string),
      'eu-west-1': [0, FLEET['eu-west-1'] - 1].map((k) => ids['eu-west-1'][k] as string),
    };
    for (const region of REGIONS) {
      for (const id of idle[region]) await metricsSinceLaunch(region, id, IDLE, launch, t);
    }
    const { services, sent } = recordingServices();
    const sweep = sweepHandler({
      region: 'us-east-1',
      topicArn,
      policy: policyFile(`regions: [${REGIONS.join(', ')}]\nmetricsApi: GetMetricData\n`),
      services,
    });

    // Act
    const started = performance.now();
    const summary = await sweep.at(t);
    const seconds = (performance.now() - started) / 1000;

    // Assess: every instance seen, the idle ones (in either batch) warned, nothing else acted on
    expect(all).toHaveLength(200);
    expect(summary.instancesSeen).toBe(200);
    expect(summary.scopes).toEqual(
      REGIONS.map((region) => ({ region, instances: FLEET[region], ok: true, metricsApi: 'GetMetricData' })),
    );
    expect(summary.errors).toEqual([]);
    expect([...summary.warned].sort()).toEqual(REGIONS.flatMap((r) => idle[r]).sort());
    expect(summary.decisions.every((d) => d.action === 'warn' && d.rule === 'idle')).toBe(true);

    // Assess: the calls, per region
    const calls = (region: Region, command: string) =>
      sent.filter((r) => r.region === region && r.command === command);
    for (const region of REGIONS) {
      const metricCalls = calls(region, 'GetMetricDataCommand');
      const queries = metricCalls.map((c) => (c.input.MetricDataQueries as unknown[]).length);
      // CPU of every instance, then network of every (idle) instance
      expect(metricCalls, region).toHaveLength(
        Math.ceil(FLEET[region] / MAX_QUERIES_PER_CALL) +
          Math.ceil((2 * FLEET[region]) / MAX_QUERIES_PER_CALL),
      );
      expect(Math.max(...queries), region).toBeLessThanOrEqual(MAX_QUERIES_PER_CALL);
      // every instance was asked for its CPU, the idle ones for their network too
      const asked = metricCalls.flatMap((c) =>
        (c.input.MetricDataQueries as { MetricStat: { Metric: { Dimensions: { Value: string }[] } } }[]).map(
          (q) => q.MetricStat.Metric.Dimensions[0]?.Value,
        ),
      );
      expect(asked, region).toHaveLength(FLEET[region] + (SERIES_PER_INSTANCE - 1) * idle[region].length);
      expect(new Set(asked), region).toEqual(new Set(ids[region]));
      expect(calls(region, 'DescribeInstancesCommand'), region).toHaveLength(1);
      expect(calls(region, 'DescribeInstanceTypesCommand'), region).toHaveLength(1);
      // all of a region's new warnings in one CreateTags call
      expect(
        calls(region, 'CreateTagsCommand').map((c) => c.input.Resources),
        region,
      ).toEqual([idle[region]]);
      // stop protection is looked up only for the instances about to be warned
      expect(
        calls(region, 'DescribeInstanceAttributeCommand').map((c) => c.input.InstanceId),
        region,
      ).toEqual(idle[region]);
      expect(calls(region, 'StopInstancesCommand'), region).toEqual([]);
    }
    const metricCalls = sent.filter((r) => r.command === 'GetMetricDataCommand').length;
    console.info(
      `200 instances in 2 regions: sweep took ${seconds.toFixed(1)} s against moto; ` +
        `${sent.length} SDK calls (${metricCalls} GetMetricData)`,
    );
    // seeding 200 instances is most of the time; give a loaded CI machine room
  }, 180_000);
});
