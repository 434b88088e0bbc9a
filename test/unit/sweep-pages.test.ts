/**
 * The sweep over a fleet that answers page by page (FleetPort.runningPages, as the EC2 adapter does): it reads the
 * metrics of a page while the next page is on its way, and decides exactly as over one list.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { AwsTarget } from '../../src/aws/clients.js';
import type { Ec2Fleet, SweepServices } from '../../src/aws/services.js';
import type { Instance } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import type { MetricsPort } from '../../src/core/ports.js';
import type { Alert } from '../../src/core/report.js';
import { runSweep } from '../../src/jobs/sweep.js';
import {
  busyMetrics,
  DEFAULT_POLICY,
  hoursAgo,
  idleMetrics,
  makeInstance,
  NOW,
  policyWith,
} from '../support/fleet.js';
import { awsError, InMemoryFleet } from './in-memory-fleet.js';

interface Paging {
  size: number;
  /** Page (from 0) whose DescribeInstances fails. */
  failAt?: number;
  /** Waited for before each page after the first. */
  before?: (page: number) => Promise<void>;
}

/** The fleet's services, with EC2 answering in pages. */
function paged(fleet: InMemoryFleet, paging: Paging): SweepServices {
  const base = fleet.services();
  return {
    ...base,
    ec2: (t: AwsTarget): Ec2Fleet => {
      const e = base.ec2(t);
      return {
        region: e.region,
        listRunning: () => e.listRunning(),
        getRunning: (id) => e.getRunning(id),
        describeTypes: (types) => e.describeTypes(types),
        isStopProtected: (id) => e.isStopProtected(id),
        tag: (ids, tags) => e.tag(ids, tags),
        untag: (ids, keys) => e.untag(ids, keys),
        stop: (ids, hibernate) => e.stop(ids, hibernate),
        enabledRegions: () => e.enabledRegions(),
        async *runningPages() {
          const all = await e.listRunning();
          for (let k = 0; k * paging.size < all.length; k++) {
            if (k > 0) await paging.before?.(k);
            if (paging.failAt === k) throw awsError('RequestLimitExceeded', 'Request limit exceeded.');
            yield all.slice(k * paging.size, (k + 1) * paging.size);
          }
        },
      };
    },
  };
}

/** A mixed fleet: idle, busy, warned and due, warned and busy again, too young, exempt. */
function classroom(fleet: InMemoryFleet): Instance[] {
  fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
  fleet.types.set('t3.large', { freeTierEligible: false, gpu: false });
  const out: Instance[] = [];
  for (let k = 0; k < 23; k++) {
    const kind = k % 6;
    const instance = makeInstance({
      instanceId: `i-${String(k).padStart(4, '0')}`,
      instanceType: k % 5 === 4 ? 't3.large' : 't3.micro',
      tags: {
        Owner: `student-${k % 4}`,
        ...(kind === 2 ? { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' } : {}),
        ...(kind === 3 ? { [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' } : {}),
        ...(kind === 5 ? { [TAGS.exempt]: 'true' } : {}),
      },
      ...(kind === 4 ? { launchTime: hoursAgo(0.2) } : {}),
    });
    fleet.add({ instance, state: 'running', stopProtected: k === 7 });
    fleet.metrics.set(instance.instanceId, kind === 1 || kind === 3 ? busyMetrics() : idleMetrics());
    out.push(instance);
  }
  return out;
}

let alerts: Alert[];
const publish = async (a: Alert) => {
  alerts.push(a);
};

beforeEach(() => {
  alerts = [];
});

describe('the sweep over DescribeInstances pages', () => {
  it('decides, tags, stops and alerts exactly as over one list', async () => {
    // Prepare: the same fleet twice, one answering in pages of 5
    const whole = new InMemoryFleet();
    const inPages = new InMemoryFleet();
    classroom(whole);
    classroom(inPages);
    const sweep = async (services: SweepServices) => {
      alerts = [];
      const observed: string[] = [];
      const report = await runSweep({
        policy: DEFAULT_POLICY,
        now: NOW,
        targets: [{ region: 'us-east-1' }],
        services,
        publish,
        onObserved: (i) => observed.push(i.instanceId),
      });
      return { report, alerts, observed };
    };

    // Act
    const a = await sweep(whole.services());
    const b = await sweep(paged(inPages, { size: 5 }));

    // Assess
    expect(b.report).toEqual(a.report);
    expect(b.alerts).toEqual(a.alerts);
    expect(inPages.calls).toEqual(whole.calls);
    expect([...b.observed].sort()).toEqual([...a.observed].sort());
    expect(a.report.warned.length).toBeGreaterThan(0);
    expect(a.report.stopped.length).toBeGreaterThan(0);
  });

  it('reads the metrics of a page while the next page is on its way', async () => {
    // Prepare: page 2 is only answered once the metrics of page 1 are being read
    const fleet = new InMemoryFleet();
    classroom(fleet);
    let metricsAsked: () => void = () => {};
    const metricsStarted = new Promise<void>((resolve) => {
      metricsAsked = resolve;
    });
    const services = paged(fleet, { size: 5, before: () => metricsStarted });
    const metrics = services.metrics;
    services.metrics = (t): MetricsPort => {
      const port = metrics(t);
      return {
        stream: (...args) => {
          metricsAsked();
          return port.stream(...args);
        },
      };
    };

    // Act: a sweep that read every page before any metric would wait forever (the API is set: with `auto` a
    // fleet this small waits for its count, as the choice needs it)
    const report = await Promise.race([
      runSweep({
        policy: policyWith({ metricsApi: 'GetMetricData' }),
        now: NOW,
        targets: [{ region: 'us-east-1' }],
        services,
        publish,
      }),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('waited for every page first')), 2000),
      ),
    ]);

    // Assess
    expect(report.instancesSeen).toBe(23);
  });

  it.each([
    [200, 'GetMetricStatistics'],
    [300, 'GetMetricData'],
  ])('picks the metric API for %i instances as if it had counted them all first (%s)', async (n, api) => {
    // Prepare: pages of 100; an hourly sweep fits the free requests up to 228 instances
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    for (let k = 0; k < n; k++) {
      const instance = makeInstance({ instanceId: `i-${k}` });
      fleet.add({ instance, state: 'running', stopProtected: false });
      fleet.metrics.set(instance.instanceId, busyMetrics());
    }
    const services = paged(fleet, { size: 100 });
    const apis: (string | undefined)[] = [];
    const metrics = services.metrics;
    services.metrics = (t): MetricsPort => {
      const port = metrics(t);
      return {
        stream: (requests, from, to, options) => {
          apis.push(options?.api);
          return port.stream(requests, from, to, options);
        },
      };
    };

    // Act
    const pagedReport = await runSweep({
      policy: DEFAULT_POLICY,
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services,
    });
    const wholeReport = await runSweep({
      policy: DEFAULT_POLICY,
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
    });

    // Assess
    expect(pagedReport.scopes[0]?.metricsApi).toBe(api);
    expect(wholeReport.scopes[0]?.metricsApi).toBe(api);
    expect(new Set(apis)).toEqual(new Set([api]));
  });

  it('judges nothing of a region whose later page fails, and goes on with the other regions', async () => {
    // Prepare: two regions; in us-east-1 the third page fails after two pages were read and measured
    const fleet = new InMemoryFleet();
    classroom(fleet);
    const west = makeInstance({ instanceId: 'i-west', region: 'us-west-2' });
    fleet.add({ instance: west, state: 'running', stopProtected: false });
    fleet.metrics.set(west.instanceId, idleMetrics());
    const services = paged(fleet, { size: 5, failAt: 2 });

    // Act
    const report = await runSweep({
      policy: DEFAULT_POLICY,
      now: NOW,
      targets: [{ region: 'us-east-1' }, { region: 'us-west-2' }],
      services,
      publish,
    });

    // Assess
    expect(report.scopes[0]).toEqual({
      region: 'us-east-1',
      instances: 0,
      ok: false,
      error: 'RequestLimitExceeded: Request limit exceeded.',
    });
    expect(report.decisions.map((d) => d.instanceId)).toEqual(['i-west']);
    expect(report.warned).toEqual(['i-west']);
    expect(fleet.calls.filter((c) => c.region === 'us-east-1')).toEqual([]);
    expect(report.errors.map((e) => [e.region, e.operation])).toEqual([
      ['us-east-1', 'ec2:DescribeInstances'],
    ]);
  });

  it('after CloudWatch fails on one page, judges no instance of that page or a later one idle', async () => {
    // Prepare: pages of 5 idle instances; the metrics of page 1 arrive (two calls), the next call fails
    const fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    const ids: string[] = [];
    for (let k = 0; k < 15; k++) {
      const instance = makeInstance({ instanceId: `i-${String(k).padStart(2, '0')}` });
      fleet.add({ instance, state: 'running', stopProtected: false });
      fleet.metrics.set(instance.instanceId, idleMetrics());
      ids.push(instance.instanceId);
    }
    let calls = 0;
    fleet.fault = (op) => (op === 'metrics' && ++calls === 3 ? awsError('ServiceUnavailable') : undefined);

    // Act
    const report = await runSweep({
      policy: policyWith({ metricsApi: 'GetMetricData' }),
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: paged(fleet, { size: 5 }),
      publish,
    });

    // Assess
    expect(report.warned).toEqual(ids.slice(0, 5));
    expect(report.decisions.map((d) => d.instanceId)).toEqual(ids);
    expect(report.decisions.slice(5).every((d) => d.action === 'none')).toBe(true);
    expect(report.decisions[10]?.reasons).toContain('no CloudWatch metrics: not judged idle');
    expect(report.errors.map((e) => e.operation)).toEqual(['cloudwatch:GetMetricData']);
  });
});
