import type { Instance, InstanceMetrics, Point } from '../../src/core/instance.js';
import type { DigestInput } from '../../src/core/digest.js';
import { DEFAULT_POLICY, type Policy, policySchema } from '../../src/core/policy.js';

/** The fixed "now" of the tests. */
export const NOW = new Date('2026-11-25T14:00:00Z');
const HOUR = 3_600_000;

/** ISO time `hours` before `now`. */
export function hoursAgo(hours: number, now: Date = NOW): string {
  return new Date(now.getTime() - hours * HOUR).toISOString();
}

let counter = 0;

/** A running free-tier t3.micro launched 5 hours before NOW, with the given changes. */
export function makeInstance(overrides: Partial<Instance> = {}): Instance {
  counter++;
  return {
    instanceId: `i-${counter.toString(16).padStart(17, '0')}`,
    region: 'us-east-1',
    instanceType: 't3.micro',
    launchTime: hoursAgo(5),
    tags: { Name: `box-${counter}`, Owner: 'alice' },
    rootDeviceType: 'ebs',
    typeInfo: { freeTierEligible: true, gpu: false },
    ...overrides,
  };
}

/**
 * 5-minute datapoints for the `hours` before `now`: CPU % and network bytes per datapoint (split between in
 * and out). `coverage` keeps only that share of the points (from the end), for missing-data cases.
 */
export function steadyMetrics(
  cpu: number,
  netBytesPer5Min: number,
  {
    hours = 3,
    coverage = 1,
    now = NOW,
    gpu,
  }: { hours?: number; coverage?: number; now?: Date; gpu?: number } = {},
): InstanceMetrics {
  const n = Math.round((hours * 3600) / 300);
  const keep = Math.round(n * coverage);
  const series = (v: number): Point[] =>
    Array.from({ length: keep }, (_, k) => ({ at: now.getTime() - k * 300_000, value: v }));
  return {
    cpu: series(cpu),
    networkIn: series(netBytesPer5Min / 2),
    networkOut: series(netBytesPer5Min / 2),
    ...(gpu !== undefined ? { gpu: series(gpu) } : {}),
  };
}

/** Quiet: 0.5% CPU, 10 kB per 5 minutes (idle under the default policy). */
export const idleMetrics = (opts?: Parameters<typeof steadyMetrics>[2]) => steadyMetrics(0.5, 10_000, opts);
/** Busy: 40% CPU, 50 MB per 5 minutes. */
export const busyMetrics = (opts?: Parameters<typeof steadyMetrics>[2]) =>
  steadyMetrics(40, 50_000_000, opts);

/** The default policy with changes (validated, so tests cannot use a policy a user could not write). */
export function policyWith(changes: Record<string, unknown> = {}): Policy {
  return policySchema.parse({ ...changes });
}

export { DEFAULT_POLICY };

/** What buildDigest() reads, for an account with nothing in it at NOW (us-east-1, default policy), with `changes`. */
export function digestInput(changes: Partial<DigestInput> = {}): DigestInput {
  return {
    now: NOW,
    policy: policyWith(),
    regions: ['us-east-1'],
    running: [],
    prices: new Map(),
    stops: [],
    volumes: [],
    addresses: [],
    stoppedDisks: [],
    month: null,
    errors: [],
    ...changes,
  };
}
