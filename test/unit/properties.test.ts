/**
 * Safety properties over random fleets, policies, metric series and clocks (fast-check).
 *
 * PROPERTY_RUNS sets the number of cases for evaluate() (default 2000); the sweep properties run a tenth of
 * that (at least 50). PROPERTY_SEED replays a failure: fast-check prints the seed and path of any
 * counterexample it finds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, type Rule } from '../../src/core/evaluate.js';
import type { Instance, InstanceMetrics, InstanceTypeInfo, Point } from '../../src/core/instance.js';
import { type Policy, policySchema, TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { awsError, type FakeOperation, InMemoryFleet } from './in-memory-fleet.js';

const RUNS = Math.max(1, Number(process.env.PROPERTY_RUNS ?? 2000));
const SWEEP_RUNS = Math.max(50, Math.round(RUNS / 10));
const SEED = process.env.PROPERTY_SEED !== undefined ? Number(process.env.PROPERTY_SEED) : undefined;
/** Generous: thousands of cases take seconds, and CI machines are slow. */
const TIMEOUT_MS = 300_000;
const settings = (numRuns: number) => ({ numRuns, ...(SEED !== undefined ? { seed: SEED } : {}) });

const MINUTE = 60_000;
const STEP = 5 * MINUTE;
const TYPES = ['t2.micro', 't3.micro', 't3.small', 'm5.large', 'g4dn.xlarge', 'c7i-flex.large'] as const;
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-south-1'] as const;
const RULES: readonly Rule[] = ['idle', 'over-uptime', 'non-free-tier'];

// ---------------------------------------------------------------------------------------------- generators

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    dryRun: fc.boolean(),
    graceMinutes: fc.integer({ min: 5, max: 600 }),
    idle: fc.record({
      cpuPercent: fc.double({ min: 0, max: 100, noNaN: true }),
      networkMB: fc.double({ min: 0, max: 50, noNaN: true }),
      gpuPercent: fc.double({ min: 0, max: 100, noNaN: true }),
      windowHours: fc.constantFrom(0.5, 1, 2, 3),
      minRunningMinutes: fc.integer({ min: 0, max: 180 }),
      minDatapointCoverage: fc.double({ min: 0.05, max: 1, noNaN: true }),
    }),
    maxRunningHours: fc.record({
      freeTier: fc.option(fc.integer({ min: 1, max: 48 }), { nil: null }),
      nonFreeTier: fc.option(fc.integer({ min: 1, max: 48 }), { nil: null }),
    }),
    nonFreeTier: fc.record({
      action: fc.constantFrom('notify' as const, 'stop' as const),
      allowedTypes: fc.subarray([...TYPES]),
    }),
    tags: fc.record({ exempt: fc.constantFrom(TAGS.exempt, 'keep-running') }),
  })
  .map((raw) => policySchema.parse(raw));

const nowArb = fc.date({
  min: new Date('2024-01-01T00:00:00Z'),
  max: new Date('2030-12-31T00:00:00Z'),
  noInvalidDate: true,
});

const typeInfoArb: fc.Arbitrary<InstanceTypeInfo | undefined> = fc.option(
  fc
    .record({
      freeTierEligible: fc.option(fc.boolean(), { nil: undefined }),
      gpu: fc.boolean(),
    })
    .map(({ freeTierEligible, gpu }) => ({
      gpu,
      ...(freeTierEligible !== undefined ? { freeTierEligible } : {}),
    })),
  { nil: undefined },
);

/** An instance described relative to the clock, so that every clock gives interesting ages. */
interface InstanceSpec {
  type: (typeof TYPES)[number];
  typeInfo: InstanceTypeInfo | undefined;
  launchAgoMinutes: number | 'malformed';
  exempt: 'none' | 'true' | ' TRUE ' | 'false' | 'future-date' | 'past-date' | 'future-time' | 'garbage';
  /** `eks` and `k8s` are forged tags (anyone who may tag can set them): never a protection. `operator` is EKS Auto Mode. */
  managed: 'none' | 'asg' | 'eks' | 'k8s' | 'operator' | 'emr' | 'spot-fleet' | 'ec2-fleet';
  lifecycle: undefined | 'spot' | 'scheduled' | 'capacity-block' | 'on-demand';
  root: 'ebs' | 'instance-store';
  stopProtected: boolean | undefined;
  /** Minutes before now the warning was written; negative = in the future. */
  warnedAgoMinutes: number | 'none' | 'malformed';
  warnRule: 'none' | Rule | 'bogus';
  hibernate: boolean;
}

const instanceSpecArb: fc.Arbitrary<InstanceSpec> = fc.record({
  type: fc.constantFrom(...TYPES),
  typeInfo: typeInfoArb,
  launchAgoMinutes: fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0, max: 72 * 60 }) },
    { weight: 1, arbitrary: fc.constant('malformed' as const) },
  ),
  exempt: fc.oneof(
    { weight: 6, arbitrary: fc.constant('none' as const) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'true' as const,
        ' TRUE ' as const,
        'false' as const,
        'future-date' as const,
        'past-date' as const,
        'future-time' as const,
        'garbage' as const,
      ),
    },
  ),
  managed: fc.oneof(
    { weight: 8, arbitrary: fc.constant('none' as const) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'asg' as const,
        'eks' as const,
        'k8s' as const,
        'operator' as const,
        'emr' as const,
        'spot-fleet' as const,
        'ec2-fleet' as const,
      ),
    },
  ),
  lifecycle: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'spot' as const,
        'scheduled' as const,
        'capacity-block' as const,
        'on-demand' as const,
      ),
    },
  ),
  root: fc.oneof(
    { weight: 9, arbitrary: fc.constant('ebs' as const) },
    { weight: 1, arbitrary: fc.constant('instance-store' as const) },
  ),
  stopProtected: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  warnedAgoMinutes: fc.oneof(
    { weight: 3, arbitrary: fc.constant('none' as const) },
    { weight: 6, arbitrary: fc.integer({ min: -30, max: 24 * 60 }) },
    { weight: 1, arbitrary: fc.constant('malformed' as const) },
  ),
  warnRule: fc.constantFrom(
    'none' as const,
    'idle' as const,
    'over-uptime' as const,
    'non-free-tier' as const,
    'bogus' as const,
  ),
  hibernate: fc.boolean(),
});

/** 48 five-minute slots back from now (4 h, more than the longest window), some missing. */
const SLOTS = 48;
const seriesArb = (values: fc.Arbitrary<number>) =>
  fc.oneof(
    fc.array(fc.option(values, { freq: 20, nil: null }), { minLength: SLOTS, maxLength: SLOTS }),
    fc.array(fc.option(values, { freq: 2, nil: null }), { minLength: SLOTS, maxLength: SLOTS }),
    fc.constant([] as (number | null)[]),
  );
const percentArb = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 8, noNaN: true }) },
  { weight: 3, arbitrary: fc.double({ min: 0, max: 100, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(Number.NaN) },
);
const bytesArb = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 200_000, noNaN: true }) },
  { weight: 3, arbitrary: fc.double({ min: 0, max: 20_000_000, noNaN: true }) },
);

interface MetricsSpec {
  cpu: (number | null)[];
  networkIn: (number | null)[];
  networkOut: (number | null)[];
  gpu: (number | null)[] | undefined;
}

const metricsSpecArb: fc.Arbitrary<MetricsSpec | undefined> = fc.option(
  fc.record({
    cpu: seriesArb(percentArb),
    networkIn: seriesArb(bytesArb),
    networkOut: seriesArb(bytesArb),
    gpu: fc.option(seriesArb(percentArb), { nil: undefined }),
  }),
  { nil: undefined, freq: 6 },
);

// ------------------------------------------------------------------------------------ building test data

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function buildInstance(
  spec: InstanceSpec,
  id: string,
  region: string,
  policy: Policy,
  nowMs: number,
): Instance {
  const tags: Record<string, string> = { Name: `box-${id}` };
  const exemptValue: Record<Exclude<InstanceSpec['exempt'], 'none'>, string> = {
    true: 'true',
    ' TRUE ': ' TRUE ',
    false: 'false',
    'future-date': iso(nowMs + 3 * 86_400_000).slice(0, 10),
    'past-date': iso(nowMs - 3 * 86_400_000).slice(0, 10),
    'future-time': iso(nowMs + 90 * MINUTE),
    garbage: 'until friday',
  };
  if (spec.exempt !== 'none') tags[policy.tags.exempt] = exemptValue[spec.exempt];
  const managedTags: Record<Exclude<InstanceSpec['managed'], 'none' | 'operator'>, [string, string]> = {
    asg: ['aws:autoscaling:groupName', 'workers'],
    eks: ['eks:cluster-name', 'lab'],
    k8s: ['kubernetes.io/cluster/lab', 'owned'],
    emr: ['aws:elasticmapreduce:job-flow-id', 'j-123'],
    'spot-fleet': ['aws:ec2spot:fleet-request-id', 'sfr-1'],
    'ec2-fleet': ['aws:ec2:fleet-id', 'fleet-1'],
  };
  if (spec.managed !== 'none' && spec.managed !== 'operator') {
    const [k, v] = managedTags[spec.managed];
    tags[k] = v;
  }
  if (spec.warnedAgoMinutes === 'malformed') tags[TAGS.warnedAt] = 'yesterday-ish';
  else if (spec.warnedAgoMinutes !== 'none')
    tags[TAGS.warnedAt] = iso(nowMs - spec.warnedAgoMinutes * MINUTE);
  if (spec.warnRule !== 'none') tags[TAGS.warnRule] = spec.warnRule;
  return {
    instanceId: id,
    region,
    instanceType: spec.type,
    launchTime:
      spec.launchAgoMinutes === 'malformed' ? 'not-a-time' : iso(nowMs - spec.launchAgoMinutes * MINUTE),
    tags,
    ...(spec.lifecycle !== undefined ? { lifecycle: spec.lifecycle } : {}),
    rootDeviceType: spec.root,
    hibernationConfigured: spec.hibernate,
    ...(spec.stopProtected !== undefined ? { stopProtected: spec.stopProtected } : {}),
    ...(spec.typeInfo !== undefined ? { typeInfo: spec.typeInfo } : {}),
    ...(spec.managed === 'operator' ? { operator: 'eks.amazonaws.com' } : {}),
  };
}

function buildSeries(slots: (number | null)[], nowMs: number): Point[] {
  const points: Point[] = [];
  slots.forEach((v, k) => {
    if (v !== null) points.push({ at: nowMs - k * STEP, value: v });
  });
  return points.reverse();
}

function buildMetrics(spec: MetricsSpec | undefined, nowMs: number): InstanceMetrics | undefined {
  if (!spec) return undefined;
  return {
    cpu: buildSeries(spec.cpu, nowMs),
    networkIn: buildSeries(spec.networkIn, nowMs),
    networkOut: buildSeries(spec.networkOut, nowMs),
    ...(spec.gpu ? { gpu: buildSeries(spec.gpu, nowMs) } : {}),
  };
}

// ------------------------------------------------------------------------------ the oracle (independent)

/** The window's finite values of one series, as CloudWatch would have returned them. */
function windowValues(points: Point[] | undefined, policy: Policy, nowMs: number): number[] {
  const from = nowMs - policy.idle.windowHours * 3_600_000;
  return (points ?? [])
    .filter((p) => p.at > from && p.at <= nowMs && Number.isFinite(p.value))
    .map((p) => p.value);
}

/** Enough datapoints in every series that idle depends on. */
function metricsComplete(metrics: InstanceMetrics | undefined, policy: Policy, nowMs: number): boolean {
  if (!metrics) return false;
  return [metrics.cpu, metrics.networkIn, metrics.networkOut].every(
    (s) => windowValues(s, policy, nowMs).length >= needed(policy),
  );
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Datapoints each series needs in the window. */
function needed(policy: Policy): number {
  const expected = Math.max(1, Math.round((policy.idle.windowHours * 3600) / 300));
  return Math.ceil(expected * policy.idle.minDatapointCoverage);
}

/** Whether `rule` can hold for the instance: necessary conditions written from the policy's words. */
function ruleHolds(
  rule: Rule,
  i: Instance,
  m: InstanceMetrics | undefined,
  policy: Policy,
  nowMs: number,
): boolean {
  const launchMs = Date.parse(i.launchTime);
  const runningMinutes = Number.isFinite(launchMs) ? (nowMs - launchMs) / MINUTE : 0;
  const eligible = i.typeInfo?.freeTierEligible;
  switch (rule) {
    case 'idle': {
      if (runningMinutes < policy.idle.minRunningMinutes || !m || !metricsComplete(m, policy, nowMs))
        return false;
      const cpu = windowValues(m.cpu, policy, nowMs);
      const bytes =
        total(windowValues(m.networkIn, policy, nowMs)) + total(windowValues(m.networkOut, policy, nowMs));
      const gpu = windowValues(m.gpu, policy, nowMs);
      const gpuBusy =
        i.typeInfo?.gpu === true && gpu.length >= needed(policy) && avg(gpu) >= policy.idle.gpuPercent;
      // Unscaled bytes: the sweep scales a partial series up, so this is a bound it must also be under.
      return avg(cpu) < policy.idle.cpuPercent && bytes / 1e6 < policy.idle.networkMB && !gpuBusy;
    }
    case 'over-uptime': {
      if (!Number.isFinite(launchMs)) return false;
      const { freeTier, nonFreeTier } = policy.maxRunningHours;
      const limit =
        eligible === true
          ? freeTier
          : eligible === false
            ? nonFreeTier
            : freeTier === null || nonFreeTier === null
              ? null
              : Math.max(freeTier, nonFreeTier);
      return limit !== null && runningMinutes / 60 > limit;
    }
    default:
      return (
        eligible === false &&
        !policy.nonFreeTier.allowedTypes.includes(i.instanceType) &&
        policy.nonFreeTier.action === 'stop'
      );
  }
}

/** Whether the instance must never be stopped, from its tags and attributes alone. */
function isProtected(i: Instance, policy: Policy, nowMs: number): boolean {
  const exempt = i.tags[policy.tags.exempt]?.trim();
  if (exempt !== undefined && exempt.toLowerCase() !== 'false') {
    if (exempt.toLowerCase() === 'true') return true;
    const until = /^\d{4}-\d{2}-\d{2}$/.test(exempt) ? Date.parse(`${exempt}T00:00:00Z`) : Date.parse(exempt);
    // Not a date = exempt; a date still ahead = snoozed.
    if (!/^\d{4}-\d{2}-\d{2}/.test(exempt) || !Number.isFinite(until) || until > nowMs) return true;
  }
  // Only what AWS sets counts as managed: aws:* tags of the managing services and the Operator. Forged
  // eks: / kubernetes.io/cluster/ tags protect nothing.
  const managed =
    i.operator !== undefined ||
    Object.keys(i.tags).some(
      (k) =>
        k === 'aws:autoscaling:groupName' ||
        k === 'aws:elasticmapreduce:job-flow-id' ||
        k === 'aws:ec2spot:fleet-request-id' ||
        k === 'aws:ec2:fleet-id',
    );
  const onDemand = i.lifecycle === undefined || i.lifecycle === 'on-demand' || i.lifecycle === 'normal';
  return managed || !onDemand || i.rootDeviceType === 'instance-store' || i.stopProtected === true;
}

/**
 * The rules that would justify stopping this instance now (empty: a stop is not justified): it is unprotected,
 * a warning was written during this run of the instance at least `grace` ago, and the warned rule (or, for a
 * warning without a rule, any rule) still holds.
 */
function stopJustification(
  i: Instance,
  m: InstanceMetrics | undefined,
  policy: Policy,
  nowMs: number,
): Rule[] {
  if (isProtected(i, policy, nowMs)) return [];
  const warnedMs = Date.parse(i.tags[TAGS.warnedAt] ?? '');
  const launchMs = Date.parse(i.launchTime);
  if (!Number.isFinite(warnedMs) || warnedMs + policy.graceMinutes * MINUTE > nowMs) return [];
  if (Number.isFinite(launchMs) && warnedMs < launchMs) return [];
  const warnedRule = RULES.find((r) => r === i.tags[TAGS.warnRule]);
  const holding = RULES.filter((r) => ruleHolds(r, i, m, policy, nowMs));
  if (warnedRule !== undefined) return holding.includes(warnedRule) ? [warnedRule] : [];
  return holding;
}

// ------------------------------------------------------------------------------------ evaluate() properties

const caseArb = fc.record({ policy: policyArb, now: nowArb, spec: instanceSpecArb, metrics: metricsSpecArb });

describe('evaluate() over random instances, policies, metrics and clocks', () => {
  it(
    `stops an instance only when a rule holds and its warning is at least the grace old (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(caseArb, ({ policy, now, spec, metrics }) => {
          const nowMs = now.getTime();
          const instance = buildInstance(spec, 'i-0a', 'us-east-1', policy, nowMs);
          const m = buildMetrics(metrics, nowMs);

          const decision = evaluate(instance, m, policy, now);

          if (decision.action === 'stop') {
            const why = stopJustification(instance, m, policy, nowMs);
            expect(why, `stopped without justification: ${decision.reasons.join(' | ')}`).toContain(
              decision.rule,
            );
          }
        }),
        settings(RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `never stops exempt, snoozed, managed, spot, instance-store or stop-protected instances (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(caseArb, ({ policy, now, spec, metrics }) => {
          const nowMs = now.getTime();
          const instance = buildInstance(spec, 'i-0b', 'us-east-1', policy, nowMs);
          fc.pre(isProtected(instance, policy, nowMs));

          const decision = evaluate(instance, buildMetrics(metrics, nowMs), policy, now);

          expect(decision.action === 'stop' || decision.action === 'warn' || decision.newWarning).toBe(false);
          expect(decision.protection).not.toBeNull();
        }),
        settings(RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `decides the same with missing or partial metrics as with none, and never calls that idle (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(caseArb, ({ policy, now, spec, metrics }) => {
          const nowMs = now.getTime();
          const instance = buildInstance(spec, 'i-0c', 'us-east-1', policy, nowMs);
          const m = buildMetrics(metrics, nowMs);
          fc.pre(!metricsComplete(m, policy, nowMs));

          const withPartial = evaluate(instance, m, policy, now);
          const withNone = evaluate(instance, undefined, policy, now);

          expect(withPartial.rulesHolding).not.toContain('idle');
          expect(withPartial.action).toBe(withNone.action);
          expect(withPartial.rule).toBe(withNone.rule);
        }),
        settings(RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `stops an unprotected instance whose warned rule still holds once the grace has passed (${RUNS} cases)`,
    () => {
      const unprotected = caseArb.map((c) => ({
        ...c,
        spec: {
          ...c.spec,
          exempt: 'none',
          managed: 'none',
          lifecycle: undefined,
          root: 'ebs',
          stopProtected: false,
        } as InstanceSpec,
      }));
      fc.assert(
        fc.property(unprotected, ({ policy, now, spec, metrics }) => {
          const nowMs = now.getTime();
          const instance = buildInstance(spec, 'i-0d', 'us-east-1', policy, nowMs);
          const m = buildMetrics(metrics, nowMs);
          const why = stopJustification(instance, m, policy, nowMs);
          // Idle is judged by a bound here (see ruleHolds), so only cases another rule justifies are asserted.
          fc.pre(why.some((r) => r !== 'idle'));

          const decision = evaluate(instance, m, policy, now);

          expect(decision.action).toBe('stop');
        }),
        settings(RUNS),
      );
    },
    TIMEOUT_MS,
  );
});

// ------------------------------------------------------------------------------------ runSweep() properties

const FAULT_NAMES = [
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalError',
  'TimeoutError',
  'ServiceUnavailable',
];
const OPERATIONS: FakeOperation[] = [
  'listRunning',
  'describeTypes',
  'isStopProtected',
  'tag',
  'untag',
  'stop',
  'metrics',
];

const faultArb = fc.record({
  operation: fc.constantFrom(...OPERATIONS),
  region: fc.constantFrom(...REGIONS),
  /** Index of the one instance the fault hits; null = every call of that operation in the region. */
  instance: fc.option(fc.nat({ max: 11 }), { nil: null }),
  name: fc.constantFrom(...FAULT_NAMES),
});

const fleetArb = fc.record({
  policy: policyArb,
  now: nowArb,
  forceDryRun: fc.boolean(),
  members: fc.array(
    fc.record({
      spec: instanceSpecArb,
      region: fc.constantFrom(...REGIONS),
      metrics: metricsSpecArb,
      changesState: fc.oneof(
        { weight: 8, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('stopped' as const, 'terminated' as const) },
      ),
    }),
    { maxLength: 12 },
  ),
  types: fc.tuple(...TYPES.map(() => typeInfoArb)),
  faults: fc.array(faultArb, { maxLength: 3 }),
});

type FleetCase = typeof fleetArb extends fc.Arbitrary<infer T> ? T : never;

function buildFleet(c: FleetCase) {
  const nowMs = c.now.getTime();
  const fleet = new InMemoryFleet();
  TYPES.forEach((t, k) => {
    const info = c.types[k];
    if (info) fleet.types.set(t, info);
  });
  const truth = new Map<string, { instance: Instance; metrics: InstanceMetrics | undefined }>();
  c.members.forEach((member, k) => {
    const id = `i-${k.toString(16).padStart(17, '0')}`;
    const built = buildInstance(member.spec, id, member.region, c.policy, nowMs);
    const { typeInfo: _ignored, stopProtected, ...described } = built;
    const metrics = buildMetrics(member.metrics, nowMs);
    if (metrics) fleet.metrics.set(id, metrics);
    fleet.add({
      instance: described,
      state: 'running',
      stopProtected: stopProtected === true,
      ...(member.changesState ? { changesStateAfterDescribe: member.changesState } : {}),
    });
    // What is true about the instance: the type facts EC2 holds, whether it is stop-protected.
    const info = fleet.types.get(built.instanceType);
    truth.set(id, {
      instance: {
        ...described,
        tags: { ...described.tags },
        stopProtected: stopProtected === true,
        ...(info ? { typeInfo: info } : {}),
      },
      metrics,
    });
  });
  const fired: { operation: FakeOperation; region: string; instanceId?: string }[] = [];
  fleet.fault = (operation, region, instanceId) => {
    for (const f of c.faults) {
      if (f.operation !== operation || f.region !== region) continue;
      const target = f.instance === null ? undefined : `i-${f.instance.toString(16).padStart(17, '0')}`;
      if (target !== undefined && target !== instanceId) continue;
      fired.push({ operation, region, ...(instanceId ? { instanceId } : {}) });
      return awsError(f.name, `injected ${f.name} on ${operation}`);
    }
    return undefined;
  };
  return { fleet, truth, fired };
}

describe('runSweep() over random fleets with injected faults', () => {
  it(
    `asks EC2 to stop only instances whose stop is justified, and reports exactly what stopped (${SWEEP_RUNS} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fleetArb, async (c) => {
          const { fleet, truth } = buildFleet(c);
          const published: unknown[] = [];

          const report = await runSweep({
            policy: c.policy,
            now: c.now,
            dryRun: c.forceDryRun,
            targets: REGIONS.map((region) => ({ region })),
            services: fleet.services(),
            publish: async (a) => published.push(a),
          });

          for (const id of fleet.stopAttempts()) {
            const t = truth.get(id);
            expect(t, `unknown instance ${id} stopped`).toBeDefined();
            if (!t) continue;
            expect(
              stopJustification(t.instance, t.metrics, c.policy, c.now.getTime()),
              `stop of ${id}`,
            ).not.toEqual([]);
          }
          expect([...report.stopped].sort()).toEqual([...fleet.stoppedIds()].sort());
        }),
        settings(SWEEP_RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `changes nothing in a dry run, and tells only the admin, only on the policy's dry-run day (${SWEEP_RUNS} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fleetArb, async (c) => {
          const { fleet } = buildFleet(c);
          const published: Alert[] = [];
          const policy = { ...c.policy, dryRun: !c.forceDryRun };

          const report = await runSweep({
            policy,
            now: c.now,
            dryRun: c.forceDryRun,
            targets: REGIONS.map((region) => ({ region })),
            services: fleet.services(),
            publish: async (a) => published.push(a),
          });

          expect(fleet.calls).toEqual([]);
          if (c.forceDryRun) {
            // plan, sweep --dry-run: nothing sent at all
            expect(published).toEqual([]);
          } else {
            // dryRun: true in the policy: one DRY RUN report to the admin when it would have acted, else nothing
            const wouldAct = report.decisions.some(
              (d) => d.action === 'stop' || (d.action === 'warn' && d.newWarning),
            );
            expect(published.length).toBe(wouldAct || report.errors.length > 0 ? 1 : 0);
            for (const a of published) {
              expect(a.owner).toBeUndefined();
              expect(a.subject).toMatch(/^cost-watchdog DRY RUN: /);
            }
          }
          expect(report.dryRun).toBe(true);
          expect([report.warned, report.stopped, report.cleared]).toEqual([[], [], []]);
        }),
        settings(SWEEP_RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `finishes under any faults and reports every one of them where it happened (${SWEEP_RUNS} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fleetArb, async (c) => {
          const { fleet, fired } = buildFleet(c);

          const report = await runSweep({
            policy: c.policy,
            now: c.now,
            targets: REGIONS.map((region) => ({ region })),
            services: fleet.services(),
          });

          expect(report.scopes.map((s) => s.region)).toEqual([...REGIONS]);
          for (const f of fired) {
            const match = report.errors.some(
              (e) => e.region === f.region && (f.instanceId === undefined || e.instanceId === f.instanceId),
            );
            expect(match, `fault on ${f.operation} ${f.region} ${f.instanceId ?? ''} not reported`).toBe(
              true,
            );
            if (f.operation === 'listRunning') {
              expect(report.scopes.find((s) => s.region === f.region)?.ok).toBe(false);
            }
          }
          // An instance that stopped or vanished between describe and stop is reported, never counted as stopped.
          for (const id of report.stopped) expect(fleet.find(id)?.state).toBe('stopped');
          for (const call of fleet.calls.filter((x) => x.operation === 'stop')) {
            for (const id of call.attempted.filter((x) => !call.instanceIds.includes(x))) {
              expect(
                report.errors.some((e) => e.instanceId === id && e.operation === 'ec2:StopInstances'),
              ).toBe(true);
            }
          }
        }),
        settings(SWEEP_RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    `never stops an instance at its first sighting, whatever the policy (${SWEEP_RUNS} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fleetArb, async (c) => {
          const { fleet, truth } = buildFleet(c);
          const unwarned = [...truth.values()]
            .filter((t) => t.instance.tags[TAGS.warnedAt] === undefined)
            .map((t) => t.instance.instanceId);

          await runSweep({
            policy: { ...c.policy, dryRun: false },
            now: c.now,
            targets: REGIONS.map((region) => ({ region })),
            services: fleet.services(),
          });

          expect(fleet.stopAttempts().filter((id) => unwarned.includes(id))).toEqual([]);
        }),
        settings(SWEEP_RUNS),
      );
    },
    TIMEOUT_MS,
  );
});
