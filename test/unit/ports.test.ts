/**
 * The ports of src/core/ports.ts, each with an in-memory implementation, driving the real use cases: a new alert
 * channel or resource kind only has to behave like these.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { AlertSink, FleetPort, MetricsPort } from '../../src/core/ports.js';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import type { SweepUsage } from '../../src/core/usage.js';
import { BundledPrices } from '../../src/core/prices.js';
import { sweepNow } from '../../src/jobs/sweep-now.js';
import { hoursAgo, idleMetrics, makeInstance, NOW, policyWith } from '../support/fleet.js';
import { InMemoryFleet } from './in-memory-fleet.js';

/** An alert channel in a few lines: a webhook that would POST each alert's JSON. */
class FakeWebhook implements AlertSink {
  readonly bodies: { to: string; body: unknown }[] = [];
  async publish(alert: Alert): Promise<void> {
    this.bodies.push({ to: alert.owner ?? 'admin', body: alert.data });
  }
}

/** The usage store the budget and the digest read, in memory. */
class MemoryUsage {
  readonly sweeps: SweepUsage[] = [];
  constructor(private readonly estimateUsd = 0) {}
  async recordSweep(usage: SweepUsage): Promise<void> {
    this.sweeps.push(usage);
  }
  async monthEstimateUsd(): Promise<number> {
    return this.estimateUsd;
  }
}

describe('the ports with in-memory implementations', () => {
  let fleet: InMemoryFleet;
  const home = { region: 'us-east-1' };

  beforeEach(() => {
    fleet = new InMemoryFleet();
    const idle = makeInstance({ instanceId: 'i-idle', launchTime: hoursAgo(5), tags: { Owner: 'alice' } });
    fleet.add({ instance: idle, state: 'running', stopProtected: false });
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    fleet.metrics.set('i-idle', idleMetrics());
  });

  it('FleetPort, MetricsPort and AlertSink: a sweep warns through the fleet and alerts through any channel', async () => {
    // Prepare: a webhook instead of SNS
    const webhook = new FakeWebhook();
    const usage = new MemoryUsage();

    // Act
    const report = await sweepNow(
      {
        policy: policyWith({ regions: ['us-east-1'] }),
        home,
        services: fleet.services(),
        alerts: webhook,
        usage: { prices: new BundledPrices(), usage },
      },
      { now: NOW },
    );

    // Assess
    expect(report.warned).toEqual(['i-idle']);
    expect(fleet.find('i-idle')?.instance.tags[TAGS.warnRule]).toBe('idle');
    expect(webhook.bodies.map((b) => b.to)).toEqual(['admin', 'alice']);
    expect(webhook.bodies[0]?.body).toMatchObject({ kind: 'cost-watchdog/sweep', warned: ['i-idle'] });
    expect(usage.sweeps).toHaveLength(1);
    expect(usage.sweeps[0]?.instancesRunning).toBe(1);
  });

  it('a fleet is only ever asked through the port: listing, types, protection, tags and stops', async () => {
    const ec2: FleetPort = fleet.services().ec2(home);
    const metrics: MetricsPort = fleet.services().metrics(home);

    const running = await ec2.listRunning();
    const got: string[] = [];
    for await (const batch of metrics.stream(
      running.map((i) => ({ instanceId: i.instanceId, queries: [] })),
      new Date(0),
      NOW,
    )) {
      got.push(...batch.map(([id]) => id));
    }

    expect(running.map((i) => i.instanceId)).toEqual(['i-idle']);
    expect(await ec2.getRunning('i-idle')).toMatchObject({ instanceId: 'i-idle' });
    expect(await ec2.isStopProtected('i-idle')).toBe(false);
    expect(got).toEqual(['i-idle']);
  });

  it('a dry run sends nothing through the sink and records nothing', async () => {
    const webhook = new FakeWebhook();
    const usage = new MemoryUsage();

    const report = await sweepNow(
      {
        policy: policyWith({ regions: ['us-east-1'] }),
        home,
        services: fleet.services(),
        alerts: webhook,
        usage: { prices: new BundledPrices(), usage },
      },
      { now: NOW, dryRun: true },
    );

    expect(report.decisions[0]).toMatchObject({ action: 'warn' });
    expect(webhook.bodies).toEqual([]);
    expect(usage.sweeps).toEqual([]);
    expect(fleet.calls).toEqual([]);
  });
});
