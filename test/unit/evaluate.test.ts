import { describe, expect, it } from 'vitest';
import { evaluate, parseSnooze } from '../../src/core/evaluate.js';
import type { Instance } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import {
  busyMetrics,
  DEFAULT_POLICY,
  hoursAgo,
  idleMetrics,
  makeInstance,
  NOW,
  policyWith,
  steadyMetrics,
} from '../support/fleet.js';

const warned = (hours: number, rule = 'idle') => ({
  [TAGS.warnedAt]: hoursAgo(hours),
  [TAGS.warnRule]: rule,
});
const nonFree = { freeTierEligible: false, gpu: false };

describe('evaluate: the idle rule', () => {
  it('warns about an idle instance that was never warned, and says when it will be stopped', () => {
    // Prepare
    const instance = makeInstance();

    // Act
    const d = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);

    // Assess
    expect(d).toMatchObject({
      action: 'warn',
      rule: 'idle',
      newWarning: true,
      stopAfter: '2026-11-25T15:00:00.000Z',
    });
    expect(d.reasons[0]).toBe('idle: CPU avg 0.50% (limit 5%), network 0.24 MB (limit 5 MB) over 2 h');
    expect(d.measured).toMatchObject({
      cpuAvgPercent: 0.5,
      networkMB: 0.24,
      cpuDatapoints: 24,
      expectedDatapoints: 24,
    });
  });

  it('stops an idle instance warned for idleness once the grace period has passed', () => {
    const instance = makeInstance({ tags: { Owner: 'bob', ...warned(1.01) } });

    const d = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'stop', rule: 'idle', newWarning: false });
    expect(d.reasons.at(-1)).toMatch(/grace of 60 min has passed/);
  });

  it('stops exactly when the grace period ends, not a moment before', () => {
    const atEdge = makeInstance({ tags: warned(1) });
    const justBefore = makeInstance({
      tags: { [TAGS.warnedAt]: new Date(NOW.getTime() - 3_599_000).toISOString() },
    });

    expect(evaluate(atEdge, idleMetrics(), DEFAULT_POLICY, NOW).action).toBe('stop');
    expect(evaluate(justBefore, idleMetrics(), DEFAULT_POLICY, NOW)).toMatchObject({
      action: 'warn',
      newWarning: false,
    });
  });

  it('keeps a warned instance within its grace period warned, without a new warning', () => {
    const d = evaluate(makeInstance({ tags: warned(0.5) }), idleMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'warn', newWarning: false, stopAfter: '2026-11-25T14:30:00.000Z' });
  });

  it('leaves a busy instance alone', () => {
    const d = evaluate(makeInstance(), busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'none', rule: null, clearWarning: false });
    expect(d.reasons[0]).toMatch(/^busy: CPU avg 40\.0% \(limit 5%\)/);
  });

  it('clears the warning of an instance that is busy again and never stops it', () => {
    const d = evaluate(makeInstance({ tags: warned(3) }), busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'none', clearWarning: true });
  });

  it.each([
    ['no metrics at all', undefined, /no CloudWatch metrics: not judged idle/],
    [
      'half the datapoints',
      steadyMetrics(0.1, 100, { coverage: 0.3 }),
      /not enough metrics to judge idle: CPU 11 of 24/,
    ],
    [
      'only an hour of data',
      steadyMetrics(0.1, 100, { hours: 1 }),
      /CPU 12 of 24 datapoints, .* in the last 2 h \(need 20\)/,
    ],
  ])('never counts missing metrics as idle: %s', (_case, metrics, reason) => {
    const instance = makeInstance({ tags: warned(5) });

    const d = evaluate(instance, metrics, DEFAULT_POLICY, NOW);

    expect(d.action).not.toBe('stop');
    expect(d.rulesHolding).not.toContain('idle');
    expect(d.reasons.join('; ')).toMatch(reason);
  });

  it('does not count network datapoints outside the window or CPU missing for one series', () => {
    const metrics = idleMetrics();
    metrics.networkOut = [];

    const d = evaluate(makeInstance(), metrics, DEFAULT_POLICY, NOW);

    expect(d.action).toBe('none');
    expect(d.reasons.join()).toMatch(/NetworkOut 0 of 24/);
  });

  it('never judges an instance idle within minRunningMinutes of its start', () => {
    const d = evaluate(makeInstance({ launchTime: hoursAgo(0.5) }), idleMetrics(), DEFAULT_POLICY, NOW);

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toBe('running 30 min, under idle.minRunningMinutes (60)');
  });

  it.each([
    ['CPU above the limit', 6, 1000, 'none'],
    ['network above the limit', 0.1, 500_000, 'none'],
    ['both below', 4.9, 100_000, 'warn'],
  ])('applies both thresholds: %s', (_case, cpu, bytes, action) => {
    expect(evaluate(makeInstance(), steadyMetrics(cpu, bytes), DEFAULT_POLICY, NOW).action).toBe(action);
  });

  it('uses GPU utilisation where the CloudWatch agent publishes it', () => {
    const gpuBox = makeInstance({
      instanceType: 'g4dn.xlarge',
      typeInfo: { freeTierEligible: false, gpu: true },
    });

    const training = evaluate(gpuBox, steadyMetrics(0.5, 1000, { gpu: 90 }), DEFAULT_POLICY, NOW);
    const idle = evaluate(gpuBox, steadyMetrics(0.5, 1000, { gpu: 0 }), DEFAULT_POLICY, NOW);

    expect(training.rulesHolding).not.toContain('idle');
    expect(training.reasons.join()).toMatch(/GPU avg 90\.0% of 5-min peaks \(limit 5%\)/);
    expect(idle.rulesHolding).toContain('idle');
  });

  it('says so when a GPU instance has no GPU metric', () => {
    const gpuBox = makeInstance({
      instanceType: 'g4dn.xlarge',
      typeInfo: { freeTierEligible: false, gpu: true },
    });

    const d = evaluate(gpuBox, idleMetrics(), DEFAULT_POLICY, NOW);

    expect(d.reasons[0]).toMatch(/no GPU metric .* judged on CPU and network/);
  });
});

describe('evaluate: the uptime rule', () => {
  it('warns about a free-tier instance running longer than maxRunningHours.freeTier', () => {
    const d = evaluate(makeInstance({ launchTime: hoursAgo(25) }), busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'warn', rule: 'over-uptime' });
    expect(d.reasons[0]).toBe(
      'over uptime: running 25.0 h since its last start (limit 24 h for free-tier types)',
    );
  });

  it('uses the non-free-tier limit for other types', () => {
    const i = makeInstance({ instanceType: 't3.large', typeInfo: nonFree, launchTime: hoursAgo(9) });

    const d = evaluate(i, busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'warn', rule: 'over-uptime' });
    expect(d.reasons[0]).toMatch(/limit 8 h for non-free-tier types/);
  });

  it('has no limit when maxRunningHours is null', () => {
    const policy = policyWith({ maxRunningHours: { freeTier: null } });

    expect(evaluate(makeInstance({ launchTime: hoursAgo(500) }), busyMetrics(), policy, NOW).action).toBe(
      'none',
    );
  });

  it('uses the more lenient limit when the free-tier class is unknown', () => {
    const unknown = makeInstance({ launchTime: hoursAgo(10) });
    delete unknown.typeInfo;

    const d = evaluate(unknown, busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d.action).toBe('none');
  });
});

describe('evaluate: the non-free-tier rule', () => {
  const large = (): Instance =>
    makeInstance({ instanceType: 't3.large', typeInfo: nonFree, launchTime: hoursAgo(2) });

  it('only reports a non-free-tier instance when the policy says notify', () => {
    const d = evaluate(large(), busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'report', rule: 'non-free-tier' });
    expect(d.reasons[0]).toMatch(/t3\.large is not free-tier eligible in us-east-1/);
  });

  it('warns, then stops, a non-free-tier instance when the policy says stop', () => {
    const policy = policyWith({ nonFreeTier: { action: 'stop' } });
    const warnedLarge = { ...large(), tags: warned(2, 'non-free-tier') };

    expect(evaluate(large(), busyMetrics(), policy, NOW)).toMatchObject({
      action: 'warn',
      rule: 'non-free-tier',
    });
    expect(evaluate(warnedLarge, busyMetrics(), policy, NOW)).toMatchObject({
      action: 'stop',
      rule: 'non-free-tier',
    });
  });

  it('accepts the types in nonFreeTier.allowedTypes', () => {
    const policy = policyWith({ nonFreeTier: { action: 'stop', allowedTypes: ['t3.large'] } });

    expect(evaluate(large(), busyMetrics(), policy, NOW).action).toBe('none');
  });

  it('never treats an instance as non-free-tier when its eligibility is unknown', () => {
    const i = large();
    delete i.typeInfo;

    const d = evaluate(i, busyMetrics(), policyWith({ nonFreeTier: { action: 'stop' } }), NOW);

    expect(d.action).toBe('none');
    expect(d.reasons.join()).toMatch(/free-tier eligibility of t3\.large unknown/);
  });
});

describe('evaluate: never stopped, only reported', () => {
  it.each<[string, Partial<Instance>, string]>([
    ['exempt', { tags: { [TAGS.exempt]: 'true' } }, 'exempt'],
    ['exempt, any case', { tags: { [TAGS.exempt]: 'TRUE' } }, 'exempt'],
    ['snoozed until tomorrow', { tags: { [TAGS.exempt]: '2026-11-26' } }, 'snoozed'],
    ['snoozed until a time later today', { tags: { [TAGS.exempt]: '2026-11-25T18:00:00Z' } }, 'snoozed'],
    ['exempt with an unrecognised value', { tags: { [TAGS.exempt]: 'forever please' } }, 'exempt'],
    ['an Auto Scaling member', { tags: { 'aws:autoscaling:groupName': 'workers' } }, 'auto-scaling'],
    ['an EKS Auto Mode node (Operator set by AWS)', { operator: 'eks.amazonaws.com' }, 'eks'],
    ['managed by another AWS service (Operator)', { operator: 'example.amazonaws.com' }, 'service-managed'],
    ['an EMR node', { tags: { 'aws:elasticmapreduce:job-flow-id': 'j-1' } }, 'emr'],
    ['a Spot Fleet member', { tags: { 'aws:ec2spot:fleet-request-id': 'sfr-1' } }, 'spot-fleet'],
    ['an EC2 Fleet member', { tags: { 'aws:ec2:fleet-id': 'fleet-1' } }, 'spot-fleet'],
    ['a one-time spot instance', { lifecycle: 'spot' }, 'spot'],
    ['a scheduled instance', { lifecycle: 'scheduled' }, 'non-on-demand'],
    ['an instance-store root', { rootDeviceType: 'instance-store' }, 'instance-store'],
    ['stop-protected', { stopProtected: true }, 'stop-protected'],
  ])(
    '%s: reported with the reason, never stopped, however long ago it was warned',
    (_case, change, protection) => {
      const base = makeInstance({ launchTime: hoursAgo(100) });
      const instance = { ...base, ...change, tags: { ...base.tags, ...warned(10), ...(change.tags ?? {}) } };

      const d = evaluate(instance, idleMetrics(), policyWith({ nonFreeTier: { action: 'stop' } }), NOW);

      expect(d).toMatchObject({ action: 'report', protection, clearWarning: true });
      expect(d.rulesHolding).toEqual(['idle', 'over-uptime']);
      expect(d.reasons[0]).toMatch(/^never stopped: /);
    },
  );

  it('does not report a protected instance that breaks no rule', () => {
    const d = evaluate(makeInstance({ tags: { [TAGS.exempt]: 'true' } }), busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'none', protection: 'exempt' });
  });

  it('treats an expired snooze as no exemption', () => {
    const d = evaluate(
      makeInstance({ tags: { [TAGS.exempt]: '2026-11-24' } }),
      idleMetrics(),
      DEFAULT_POLICY,
      NOW,
    );

    expect(d).toMatchObject({ action: 'warn', protection: null });
  });

  it('reads the exempt tag key from the policy', () => {
    const policy = policyWith({ tags: { exempt: 'keep-me' } });

    const d = evaluate(
      makeInstance({ tags: { 'keep-me': 'true', ...warned(5) } }),
      idleMetrics(),
      policy,
      NOW,
    );

    expect(d.protection).toBe('exempt');
  });
});

describe('evaluate: warnings', () => {
  it('warns afresh when the rule it was warned for no longer holds but another does', () => {
    const instance = makeInstance({ launchTime: hoursAgo(30), tags: warned(5, 'idle') });

    const d = evaluate(instance, busyMetrics(), DEFAULT_POLICY, NOW);

    expect(d).toMatchObject({ action: 'warn', rule: 'over-uptime', newWarning: true });
  });

  it.each(['not a date', '2099-01-01T00:00:00Z'])(
    'warns afresh when the warning time is unusable: %s',
    (value) => {
      const d = evaluate(
        makeInstance({ tags: { [TAGS.warnedAt]: value } }),
        idleMetrics(),
        DEFAULT_POLICY,
        NOW,
      );

      expect(d).toMatchObject({ action: 'warn', newWarning: true });
    },
  );

  it('counts the grace from a warning without a rule tag for any stoppable rule', () => {
    const d = evaluate(
      makeInstance({ tags: { [TAGS.warnedAt]: hoursAgo(2) } }),
      idleMetrics(),
      DEFAULT_POLICY,
      NOW,
    );

    expect(d).toMatchObject({ action: 'stop', rule: 'idle' });
  });

  it('uses the policy grace period', () => {
    const policy = policyWith({ graceMinutes: 180 });

    const d = evaluate(makeInstance({ tags: warned(2) }), idleMetrics(), policy, NOW);

    expect(d).toMatchObject({ action: 'warn', stopAfter: '2026-11-25T15:00:00.000Z' });
  });

  it('hibernates instances launched with hibernation', () => {
    const d = evaluate(
      makeInstance({ hibernationConfigured: true, tags: warned(2) }),
      idleMetrics(),
      DEFAULT_POLICY,
      NOW,
    );

    expect(d).toMatchObject({ action: 'stop', hibernate: true });
  });

  it('carries the owner from the policy owner tag', () => {
    const policy = policyWith({ tags: { owner: 'student' } });

    const d = evaluate(makeInstance({ tags: { student: 'zoe' } }), idleMetrics(), policy, NOW);

    expect(d.owner).toBe('zoe');
  });
});

describe('parseSnooze', () => {
  it.each([
    ['2026-12-01', Date.parse('2026-12-01T00:00:00Z')],
    ['2026-12-01T09:00:00Z', Date.parse('2026-12-01T09:00:00Z')],
    ['2026-12-01T09:00:00+01:00', Date.parse('2026-12-01T08:00:00Z')],
    ['tomorrow', null],
    ['2026-13-45', null],
  ])('reads %s', (value, expected) => {
    expect(parseSnooze(value)).toBe(expected);
  });
});

describe('evaluate: tags that only claim "managed" protect nothing', () => {
  it.each<[string, Record<string, string>]>([
    ['eks:cluster-name', { 'eks:cluster-name': 'ml' }],
    ['eks:nodegroup-name', { 'eks:nodegroup-name': 'ng' }],
    ['kubernetes.io/cluster/<name>', { 'kubernetes.io/cluster/ml': 'owned' }],
    ['karpenter.sh/nodepool', { 'karpenter.sh/nodepool': 'default' }],
  ])(
    'an instance tagged only %s is stopped after its grace, and the reason says the tag was not trusted',
    (_c, tags) => {
      // Prepare: idle for long, warned for idle 90 minutes ago, with a tag anyone may set
      const base = makeInstance({ launchTime: hoursAgo(100) });
      const instance = { ...base, tags: { ...base.tags, ...warned(90), ...tags } };

      // Act
      const d = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);

      // Assess
      expect(d.protection).toBeNull();
      expect(d.action).toBe('stop');
      expect(d.reasons.join(' | ')).toMatch(/not treated as managed: tag .* can be set by anyone/);
    },
  );

  it('an Auto Scaling member that also carries a Kubernetes tag is protected by the AWS tag, which the reason names', () => {
    const base = makeInstance({ launchTime: hoursAgo(100) });
    const instance = {
      ...base,
      tags: { ...base.tags, 'aws:autoscaling:groupName': 'eks-ng-1', 'kubernetes.io/cluster/ml': 'owned' },
    };

    const d = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);

    expect(d.protection).toBe('auto-scaling');
    expect(d.reasons[0]).toMatch(/Auto Scaling group eks-ng-1 \(tag aws:autoscaling:groupName, set by AWS\)/);
    expect(d.reasons.join()).not.toMatch(/not treated as managed/);
  });
});

describe('evaluate: the decision record', () => {
  it.each([
    ['a busy instance without name or owner', makeInstance({ tags: {} }), busyMetrics()],
    [
      'an idle, warned, owned instance',
      makeInstance({ tags: { Name: 'nb', Owner: 'bob', ...warned(0.5) } }),
      idleMetrics(),
    ],
    ['an exempt instance', makeInstance({ tags: { [TAGS.exempt]: 'true', Owner: 'bob' } }), idleMetrics()],
  ])(
    'keeps the fields of %s in one order: what it is, then what is decided (the JSON report)',
    (_, instance, metrics) => {
      const d = evaluate(instance, metrics, DEFAULT_POLICY, NOW);

      const ref = ['instanceId', 'region', 'instanceType', 'name', 'owner'].filter((k) => k in d);
      expect(Object.keys(d)).toEqual([
        ...ref,
        'action',
        'rule',
        'reasons',
        'protection',
        'rulesHolding',
        'ruleReasons',
        'warnedAt',
        'newWarning',
        'stopAfter',
        'clearWarning',
        'hibernate',
        'measured',
      ]);
    },
  );

  it('gives each decision its own reasons, so changing one (postpone, links) never changes another', () => {
    const instance = makeInstance({ tags: { Owner: 'bob', ...warned(0.5) } });

    const a = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);
    const b = evaluate(instance, idleMetrics(), DEFAULT_POLICY, NOW);
    a.reasons.push('changed');

    expect(b.reasons).not.toContain('changed');
    expect(b.rulesHolding).not.toBe(a.rulesHolding);
  });
});
