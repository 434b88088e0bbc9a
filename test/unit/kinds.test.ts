/**
 * Notebooks and databases as the decision core sees them: each kind's policy (policyForKind), free tier from the
 * policy's lists (kindTypeInfo), the idle judges (a notebook's own activity tag; a database's connections and
 * CPU), the uptime of a database AWS restarted, and the resources RDS refuses to stop.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/core/evaluate.js';
import type { Instance, InstanceMetrics, Point } from '../../src/core/instance.js';
import {
  kindEnabled,
  kindOperation,
  kindTypeInfo,
  metricsRequestFor,
  policyForKind,
  firstStageRequest,
  secondStageRequest,
} from '../../src/core/kinds.js';
import { PolicyError } from '../../src/core/errors.js';
import { type Policy, parsePolicy, TAGS } from '../../src/core/policy.js';
import { DEFAULT_POLICY, hoursAgo, NOW, policyWith } from '../support/fleet.js';

/** A notebook instance InService since `hours` ago. */
function notebook(overrides: Partial<Instance> = {}, hours = 5): Instance {
  return {
    kind: 'sagemaker-notebook',
    instanceId: 'course-nb',
    region: 'eu-west-1',
    instanceType: 'ml.t3.medium',
    launchTime: hoursAgo(hours),
    tags: { Owner: 'alice' },
    rootDeviceType: 'ebs',
    storageGb: 5,
    ...overrides,
  };
}

/** An RDS DB instance available since `hours` ago. */
function database(overrides: Partial<Instance> = {}, hours = 5): Instance {
  return {
    kind: 'rds-instance',
    instanceId: 'course-db',
    region: 'eu-west-1',
    instanceType: 'db.t3.micro',
    launchTime: hoursAgo(hours),
    tags: { Owner: 'bob' },
    rootDeviceType: 'ebs',
    engine: 'postgres',
    storageGb: 20,
    storageType: 'gp2',
    multiAz: false,
    ...overrides,
  };
}

/** 5-minute RDS datapoints over the last `hours`: connections (Maximum) and CPU %. */
function dbMetrics(connections: number, cpu: number, hours = 3): InstanceMetrics {
  const n = Math.round((hours * 3600) / 300);
  const series = (v: number): Point[] =>
    Array.from({ length: n }, (_, k) => ({ at: NOW.getTime() - k * 300_000, value: v }));
  return { connections: series(connections), cpu: series(cpu) };
}

/** Evaluates as the sweep does: the kind's policy and type facts. */
function judge(instance: Instance, metrics: InstanceMetrics | undefined, policy: Policy = DEFAULT_POLICY) {
  const typeInfo = kindTypeInfo(instance, policy, undefined);
  const kind = instance.kind ?? 'ec2';
  return evaluate(
    { ...instance, ...(typeInfo ? { typeInfo } : {}) },
    metrics,
    policyForKind(policy, kind),
    NOW,
  );
}

describe('policy: notebooks and databases', () => {
  it('watches both kinds by default, with the EC2 grace, idle window and uptime limits', () => {
    expect(kindEnabled(DEFAULT_POLICY, 'sagemaker-notebook')).toBe(true);
    expect(kindEnabled(DEFAULT_POLICY, 'rds-instance')).toBe(true);
    expect(kindEnabled(DEFAULT_POLICY, 'rds-cluster')).toBe(true);
    for (const kind of ['sagemaker-notebook', 'rds-instance', 'rds-cluster'] as const) {
      const p = policyForKind(DEFAULT_POLICY, kind);
      expect(p.graceMinutes).toBe(DEFAULT_POLICY.graceMinutes);
      expect(p.idle).toEqual(DEFAULT_POLICY.idle);
      expect(p.maxRunningHours).toEqual(DEFAULT_POLICY.maxRunningHours);
    }
    expect(policyForKind(DEFAULT_POLICY, 'ec2')).toBe(DEFAULT_POLICY);
  });

  it('applies a kind section over the EC2 keys and leaves the unset ones at the EC2 values', () => {
    const policy = policyWith({
      graceMinutes: 90,
      idle: { cpuPercent: 7, windowHours: 3 },
      maxRunningHours: { freeTier: 30, nonFreeTier: 10 },
      databases: {
        graceMinutes: 240,
        idle: { cpuPercent: 12 },
        maxRunningHours: { nonFreeTier: null },
        allowedTypes: ['db.r6g.large'],
      },
      notebooks: { enabled: false, idle: { windowHours: 1 } },
    });

    const db = policyForKind(policy, 'rds-cluster');
    const nb = policyForKind(policy, 'sagemaker-notebook');

    expect(db.graceMinutes).toBe(240);
    expect(db.idle).toMatchObject({ cpuPercent: 12, windowHours: 3 });
    expect(db.maxRunningHours).toEqual({ freeTier: 30, nonFreeTier: null });
    expect(db.nonFreeTier.allowedTypes).toEqual(['db.r6g.large']);
    expect(nb.graceMinutes).toBe(90);
    expect(nb.idle).toMatchObject({ cpuPercent: 7, windowHours: 1 });
    expect(kindEnabled(policy, 'sagemaker-notebook')).toBe(false);
    expect(kindEnabled(policy, 'rds-instance')).toBe(true);
  });

  it.each([
    [{ notebooks: { freeTierTypes: ['t3.medium'] } }, 'notebooks.freeTierTypes.0', 'ml.t3.medium'],
    [{ databases: { allowedTypes: ['t3.micro'] } }, 'databases.allowedTypes.0', 'db.t3.micro'],
    [{ databases: { graceMinutes: 1 } }, 'databases.graceMinutes', '1'],
    [{ databases: { idle: { connections: 0 } } }, 'databases.idle.connections', 'unknown key'],
    [{ notebooks: { idle: { cpuPercent: 5 } } }, 'notebooks.idle.cpuPercent', 'unknown key'],
    [{ notebooks: { enabled: 'yes' } }, 'notebooks.enabled', '"yes"'],
  ])('refuses %j, naming the field and what is wrong', (input, field, said) => {
    let error: unknown;
    try {
      parsePolicy(input);
    } catch (err) {
      error = err;
    }

    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).issues.join('\n')).toContain(field);
    expect((error as PolicyError).message).toContain(said);
  });
});

describe('free tier of notebooks and databases: the policy lists, with the allowance named', () => {
  it('a notebook on a listed type is free tier, and its reason says the allowance is 2 months only', () => {
    const d = judge(notebook({ tags: { Owner: 'alice', [TAGS.lastActivity]: hoursAgo(0.2) } }), undefined);

    expect(d.rulesHolding).toEqual([]);
    expect(d.reasons.join('\n')).toMatch(/250 h a month of ml\.t3\.medium notebooks in the first 2 months/);
  });

  it('an ml.p3.2xlarge notebook is not free tier: reported, or warned when the policy says stop', () => {
    const gpu = notebook({ instanceType: 'ml.p3.2xlarge', tags: { [TAGS.lastActivity]: hoursAgo(0.1) } }, 1);

    const notify = judge(gpu, undefined);
    const stop = judge(gpu, undefined, policyWith({ nonFreeTier: { action: 'stop' } }));

    expect(notify).toMatchObject({ action: 'report', rule: 'non-free-tier' });
    expect(notify.reasons[0]).toBe(
      'not free tier: ml.p3.2xlarge is not in notebooks.freeTierTypes and not in notebooks.allowedTypes',
    );
    expect(stop).toMatchObject({ action: 'warn', rule: 'non-free-tier', newWarning: true });
  });

  it('accepts a type the notebooks section allows, not one the EC2 list allows', () => {
    const big = notebook({ instanceType: 'ml.m5.xlarge', tags: { [TAGS.lastActivity]: hoursAgo(0.1) } }, 1);
    const policy = (allowed: Record<string, unknown>) =>
      policyWith({ nonFreeTier: { action: 'stop' }, ...allowed });

    expect(judge(big, undefined, policy({ notebooks: { allowedTypes: ['ml.m5.xlarge'] } })).action).toBe(
      'none',
    );
    expect(
      judge(big, undefined, policy({ nonFreeTier: { action: 'stop', allowedTypes: ['m5.xlarge'] } })).action,
    ).toBe('warn');
  });

  it('a db.t3.micro is free tier only Single-AZ, and its reason says the 12 months', () => {
    const single = judge(database(), dbMetrics(2, 10));
    const multi = judge(database({ multiAz: true }), dbMetrics(2, 10));

    expect(single.rulesHolding).toEqual([]);
    expect(single.reasons.join('\n')).toMatch(/750 h a month of Single-AZ db\.t3\.micro .* 12 months/);
    expect(multi.rulesHolding).toEqual(['non-free-tier']);
    expect(multi.reasons[0]).toContain('(Multi-AZ is never free tier)');
  });

  it('an Aurora cluster is never free tier, whatever its class', () => {
    const cluster = database({
      kind: 'rds-cluster',
      engine: 'aurora-postgresql',
      instanceType: 'db.t3.micro',
    });

    expect(kindTypeInfo(cluster, DEFAULT_POLICY, undefined)?.freeTierEligible).toBe(false);
    expect(judge(cluster, dbMetrics(1, 10)).reasons[0]).toContain('(Aurora is never free tier)');
  });

  it('follows the list: a class removed from databases.freeTierTypes (the year is over) is not free', () => {
    const policy = policyWith({ databases: { freeTierTypes: [] } });

    expect(kindTypeInfo(database(), policy, undefined)?.freeTierEligible).toBe(false);
  });
});

describe('idle notebooks: their own kernel and terminal activity, never CPU', () => {
  it('warns about a notebook without activity for longer than the window', () => {
    const d = judge(notebook({ tags: { [TAGS.lastActivity]: hoursAgo(3) } }), undefined);

    expect(d).toMatchObject({ action: 'warn', rule: 'idle', newWarning: true });
    expect(d.ruleReasons.idle).toBe(
      `idle: last kernel or terminal activity ${hoursAgo(3)}, 3.0 h ago (limit 2 h)`,
    );
    expect(d.measured).toMatchObject({ inactiveHours: 3, lastActivityAt: hoursAgo(3) });
  });

  it('leaves a notebook used within the window alone', () => {
    const d = judge(notebook({ tags: { [TAGS.lastActivity]: hoursAgo(1.5) } }), undefined);

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toMatch(/^busy: last kernel or terminal activity .*, 1\.5 h ago \(limit 2 h\)$/);
  });

  it('never judges a notebook without the activity tag idle, and says how to measure it', () => {
    const d = judge(notebook(), undefined);

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toBe(
      'activity not measured: install the lifecycle configuration (docs/notebooks-and-databases.md); not judged idle',
    );
  });

  it('never counts activity recorded before the last start (the script no longer runs)', () => {
    const d = judge(notebook({ tags: { [TAGS.lastActivity]: hoursAgo(30) } }, 5), undefined);

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toMatch(/^activity not measured since the last start/);
  });

  it('counts from the start when the tag was written just before it (the start script runs first)', () => {
    const d = judge(notebook({ tags: { [TAGS.lastActivity]: hoursAgo(3.1) } }, 3), undefined);

    expect(d).toMatchObject({ action: 'warn', rule: 'idle' });
    expect(d.measured.inactiveHours).toBe(3);
  });

  it('uses the notebooks idle window over the EC2 one', () => {
    const tagged = notebook({ tags: { [TAGS.lastActivity]: hoursAgo(1.5) } });

    expect(judge(tagged, undefined, policyWith({ notebooks: { idle: { windowHours: 1 } } })).action).toBe(
      'warn',
    );
  });

  it('a warned notebook that is used again has its warning cleared', () => {
    const d = judge(
      notebook({
        tags: { [TAGS.lastActivity]: hoursAgo(0.1), [TAGS.warnedAt]: hoursAgo(0.5), [TAGS.warnRule]: 'idle' },
      }),
      undefined,
    );

    expect(d).toMatchObject({ action: 'none', clearWarning: true });
  });

  it('reads no metric series for a notebook', () => {
    expect(metricsRequestFor(notebook()).queries).toEqual([]);
  });
});

describe('idle databases: no connections and low CPU over the window', () => {
  it('warns about a database nobody connected to, with the measured numbers', () => {
    const d = judge(database(), dbMetrics(0, 1.2));

    expect(d).toMatchObject({
      action: 'warn',
      rule: 'idle',
      measured: { connectionsMax: 0, cpuAvgPercent: 1.2 },
    });
    expect(d.ruleReasons.idle).toBe('idle: no connections, CPU avg 1.2% (limit 5%) over 2 h');
  });

  it.each([
    ['one connection at some point', dbMetrics(1, 1.2), /^busy: up to 1\.0 connections, CPU avg 1\.2%/],
    ['CPU above the limit without connections', dbMetrics(0, 30), /^busy: no connections, CPU avg 30\.0%/],
  ])('leaves it alone with %s', (_case, metrics, reason) => {
    const d = judge(database(), metrics);

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toMatch(reason);
  });

  it('never judges it idle on too few datapoints, and names the series that is short', () => {
    const m = dbMetrics(0, 1);
    const d = judge(database(), { ...m, connections: (m.connections ?? []).slice(0, 5) });

    expect(d.action).toBe('none');
    expect(d.reasons[0]).toBe(
      'not enough metrics to judge idle: DatabaseConnections 5 of 24 datapoints in the last 2 h (need 20)',
    );
  });

  it('uses databases.idle.cpuPercent over the EC2 limit', () => {
    const policy = policyWith({ databases: { idle: { cpuPercent: 10 } } });

    expect(judge(database(), dbMetrics(0, 8), policy).action).toBe('warn');
    expect(judge(database(), dbMetrics(0, 8)).action).toBe('none');
  });

  it('reads DatabaseConnections (Maximum) and CPUUtilization per instance, or per cluster, all at once', () => {
    const one = metricsRequestFor(database());
    const cluster = metricsRequestFor(database({ kind: 'rds-cluster', instanceId: 'course-aurora' }));

    expect(one.queries).toEqual([
      {
        series: 'connections',
        namespace: 'AWS/RDS',
        metricName: 'DatabaseConnections',
        dimensions: [{ name: 'DBInstanceIdentifier', value: 'course-db' }],
        stat: 'Maximum',
      },
      {
        series: 'cpu',
        namespace: 'AWS/RDS',
        metricName: 'CPUUtilization',
        dimensions: [{ name: 'DBInstanceIdentifier', value: 'course-db' }],
        stat: 'Average',
      },
    ]);
    expect(cluster.queries.map((q) => q.dimensions)).toEqual([
      [{ name: 'DBClusterIdentifier', value: 'course-aurora' }],
      [{ name: 'DBClusterIdentifier', value: 'course-aurora' }],
    ]);
    expect(firstStageRequest(database())).toEqual(one);
    expect(secondStageRequest(database(), dbMetrics(0, 1), DEFAULT_POLICY, NOW)).toBeNull();
  });
});

describe('a database AWS restarted after 7 days stopped', () => {
  it('says so, and is warned afresh: the warning from before it was stopped does not count', () => {
    const restarted = database(
      {
        restartedByAws: true,
        // warned before the watchdog's stop, the tag left behind; AWS started it again 3 h ago
        tags: { [TAGS.warnedAt]: hoursAgo(24 * 8), [TAGS.warnRule]: 'idle' },
      },
      3,
    );

    const d = judge(restarted, dbMetrics(0, 1));

    expect(d).toMatchObject({ action: 'warn', rule: 'idle', newWarning: true });
    expect(d.ruleReasons.idle).toContain('(restarted by AWS after 7 days stopped)');
  });

  it('names the restart in the uptime reason', () => {
    const d = judge(database({ restartedByAws: true, instanceType: 'db.m5.large' }, 10), dbMetrics(3, 20));

    expect(d.ruleReasons['over-uptime']).toBe(
      'over uptime: running 10.0 h since its last start (restarted by AWS after 7 days stopped) (limit 8 h for non-free-tier types)',
    );
  });
});

describe('databases RDS refuses to stop', () => {
  it('are reported with the reason RDS gives, never warned or stopped', () => {
    const replica = database({
      cannotStop: 'read replica of course-db: RDS cannot stop a read replica',
      tags: { [TAGS.warnedAt]: hoursAgo(5), [TAGS.warnRule]: 'idle' },
    });

    const d = judge(replica, dbMetrics(0, 1));

    expect(d).toMatchObject({ action: 'report', protection: 'not-stoppable', clearWarning: true });
    expect(d.reasons[0]).toBe('never stopped: read replica of course-db: RDS cannot stop a read replica');
  });

  it('an exempt database stays exempt (the admin said so first)', () => {
    const d = judge(
      database({ cannotStop: 'SQL Server Multi-AZ: RDS cannot stop it', tags: { [TAGS.exempt]: 'true' } }),
      dbMetrics(0, 1),
    );

    expect(d.protection).toBe('exempt');
  });
});

describe('errors name the operation of the kind', () => {
  it.each([
    ['ec2', 'list', 'ec2:DescribeInstances'],
    ['ec2', 'CreateTags (warning)', 'ec2:CreateTags (warning)'],
    ['sagemaker-notebook', 'list', 'sagemaker:ListNotebookInstances'],
    ['sagemaker-notebook', 'StopInstances', 'sagemaker:StopNotebookInstance'],
    ['rds-instance', 'DeleteTags (after stop)', 'rds:RemoveTagsFromResource (after stop)'],
    ['rds-cluster', 'StopInstances', 'rds:StopDBCluster'],
  ] as const)('%s %s -> %s', (kind, op, named) => {
    expect(kindOperation(kind, op)).toBe(named);
  });
});
