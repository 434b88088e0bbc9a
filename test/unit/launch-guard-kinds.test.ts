/**
 * The launch guard for a SageMaker notebook that goes InService and an RDS database that is created or started:
 * the events it answers, and the same verdicts as for an EC2 launch under the kind's policy.
 */
import { describe, expect, it } from 'vitest';
import type { AwsTarget } from '../../src/aws/clients.js';
import type { CostServices } from '../../src/aws/cost-services.js';
import { BundledPrices } from '../../src/core/prices.js';
import type { Instance } from '../../src/core/instance.js';
import { readStateChange } from '../../src/core/launch-event.js';
import type { FleetPort, ResourceResult } from '../../src/core/ports.js';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { answerStateChange } from '../../src/jobs/launch-guard.js';
import { NOW, policyWith } from '../support/fleet.js';

const notebookEvent = (status: string, name = 'course-nb') => ({
  source: 'aws.sagemaker',
  'detail-type': 'SageMaker Notebook Instance State Change',
  region: 'eu-west-1',
  account: '123456789012',
  detail: { NotebookInstanceName: name, NotebookInstanceStatus: status, NotebookInstanceArn: 'arn:x' },
});

const rdsEvent = (eventId: string, cluster = false, id = 'course-db') => ({
  source: 'aws.rds',
  'detail-type': cluster ? 'RDS DB Cluster Event' : 'RDS DB Instance Event',
  region: 'eu-west-1',
  detail: {
    SourceIdentifier: id,
    EventID: eventId,
    Message: 'DB instance started',
    SourceType: 'DB_INSTANCE',
  },
});

describe('the events of notebooks and databases', () => {
  it.each([
    [
      notebookEvent('InService'),
      { kind: 'running', instanceId: 'course-nb', resource: 'sagemaker-notebook' },
    ],
    [rdsEvent('RDS-EVENT-0088'), { kind: 'running', instanceId: 'course-db', resource: 'rds-instance' }],
    [rdsEvent('RDS-EVENT-0154'), { kind: 'running', instanceId: 'course-db', resource: 'rds-instance' }],
    [rdsEvent('RDS-EVENT-0005'), { kind: 'running', instanceId: 'course-db', resource: 'rds-instance' }],
    [rdsEvent('RDS-EVENT-0151', true, 'lab-aurora'), { kind: 'running', resource: 'rds-cluster' }],
    [
      notebookEvent('Pending'),
      { kind: 'ignored', reason: 'status Pending, not InService', malformed: false },
    ],
    [
      rdsEvent('RDS-EVENT-0004'),
      { kind: 'ignored', reason: 'event RDS-EVENT-0004, not a start', malformed: false },
    ],
    [rdsEvent('RDS-EVENT-0088', false, 'no spaces please'), { kind: 'ignored', malformed: true }],
    [
      { ...notebookEvent('InService'), region: 'eu west 1' },
      { kind: 'ignored', malformed: true },
    ],
  ])('%j -> %j', (event, expected) => {
    expect(readStateChange(event)).toMatchObject(expected);
  });
});

/** One running notebook or database, and what the guard did to it. */
function fakeFleet(instance: Instance) {
  const calls: { op: string; ids: string[]; tags?: Record<string, string> }[] = [];
  const ok =
    (op: string) =>
    async (ids: string[], tags?: unknown): Promise<ResourceResult[]> => {
      calls.push({ op, ids, ...(op === 'tag' ? { tags: tags as Record<string, string> } : {}) });
      return ids.map((id) => ({ instanceId: id, ok: true, ...(op === 'stop' ? { state: 'stopping' } : {}) }));
    };
  const fleet: FleetPort = {
    region: instance.region,
    kind: instance.kind ?? 'ec2',
    listRunning: async () => [instance],
    getRunning: async (id) =>
      id === instance.instanceId ? { ...instance, tags: { ...instance.tags } } : null,
    describeTypes: async () => new Map(),
    isStopProtected: async () => false,
    tag: ok('tag'),
    untag: ok('untag'),
    stop: ok('stop'),
  };
  return { fleet, calls };
}

/** The launch guard's services for a notebook or database: EC2 and security groups are never asked; `fleet` is. */
function kindServices(fleet: (target: AwsTarget) => unknown): CostServices {
  return {
    ec2: () => {
      throw new Error('EC2 is not asked about a notebook or database');
    },
    costs: () => {
      throw new Error('no security groups to read');
    },
    prices: new BundledPrices(),
    usage: {},
    fleet,
  } as unknown as CostServices;
}

async function guard(event: unknown, instance: Instance, policy: Record<string, unknown>) {
  const { fleet, calls } = fakeFleet(instance);
  const alerts: Alert[] = [];
  const services = kindServices(() => fleet);
  const result = await answerStateChange(
    event,
    {
      policy: policyWith(policy),
      home: { region: 'eu-west-1' },
      services,
      provisionedUsers: async () => ({ names: new Set(['alice']) }),
      alerts: { publish: async (a) => alerts.push(a) },
      log: () => {},
    },
    NOW,
  );
  return { result, calls, alerts };
}

const gpuNotebook: Instance = {
  kind: 'sagemaker-notebook',
  instanceId: 'course-nb',
  region: 'eu-west-1',
  instanceType: 'ml.p3.2xlarge',
  launchTime: NOW.toISOString(),
  tags: { Owner: 'alice' },
  rootDeviceType: 'ebs',
};

describe('the launch guard for a notebook or database that starts', () => {
  it('alerts the admin and the owner about a non-free-tier notebook, naming it a notebook', async () => {
    const { result, alerts, calls } = await guard(notebookEvent('InService'), gpuNotebook, {});

    expect(result).toMatchObject({ status: 'alerted', verdict: { action: 'alert' } });
    expect(calls).toEqual([]);
    expect(alerts.map((a) => a.owner)).toEqual([undefined, 'alice']);
    expect(alerts[0]?.text).toMatch(/^Notebook course-nb \(owner alice\) started in eu-west-1/);
    expect(alerts[0]?.text).toContain('- non-free-tier: ml.p3.2xlarge is not in notebooks.freeTierTypes');
    expect(alerts[0]?.text).toContain('when it is idle (no kernel or terminal activity for 2 h)');
  });

  it('warns it with nonFreeTier.action stop, and stops it at once with launchGuard.immediate', async () => {
    const warned = await guard(notebookEvent('InService'), gpuNotebook, { nonFreeTier: { action: 'stop' } });
    const stopped = await guard(notebookEvent('InService'), gpuNotebook, {
      nonFreeTier: { action: 'stop' },
      launchGuard: { immediate: true },
    });

    expect(warned.result.status).toBe('warned');
    expect(warned.calls[0]).toMatchObject({
      op: 'tag',
      ids: ['course-nb'],
      tags: { [TAGS.warnRule]: 'non-free-tier' },
    });
    expect(stopped.result.status).toBe('stopped');
    expect(stopped.calls.map((c) => c.op)).toEqual(['stop', 'tag', 'untag']);
  });

  it('never stops an exempt database, and tells the admin a provisioned user started it exempt', async () => {
    const db: Instance = {
      ...gpuNotebook,
      kind: 'rds-instance',
      instanceId: 'course-db',
      instanceType: 'db.r6g.large',
      tags: { Owner: 'alice', [TAGS.exempt]: 'true' },
      engine: 'postgres',
    };

    const { result, calls, alerts } = await guard(rdsEvent('RDS-EVENT-0088'), db, {
      nonFreeTier: { action: 'stop' },
      launchGuard: { immediate: true },
    });

    expect(result).toMatchObject({ status: 'alerted', verdict: { protection: 'exempt' } });
    expect(calls).toEqual([]);
    expect(alerts[0]?.text).toMatch(/^Database course-db/);
    expect(result.verdict?.findings.map((f) => f.rule)).toEqual(['non-free-tier', 'opted-out']);
  });

  it('lets a free-tier database with an owner be, and ignores a kind the policy switches off', async () => {
    const free: Instance = {
      ...gpuNotebook,
      kind: 'rds-instance',
      instanceId: 'course-db',
      instanceType: 'db.t3.micro',
      multiAz: false,
    };

    const fine = await guard(rdsEvent('RDS-EVENT-0088'), free, {});
    const off = await guard(notebookEvent('InService'), gpuNotebook, { notebooks: { enabled: false } });

    expect(fine.result.status).toBe('compliant');
    expect(fine.alerts).toEqual([]);
    expect(off.result).toEqual({
      status: 'ignored',
      instanceId: 'course-nb',
      reason: 'notebooks are switched off in the policy',
    });
  });
});

describe('a notebook or database that starts in a member account (its event forwarded by resources/forwarder.yml)', () => {
  const HOME_ACCOUNT = '123456789012';
  const MEMBER = '444455556666';

  /** The guard in the watchdog account, with the member role's credentials and the targets the fleet was read in. */
  async function guardForwarded(event: unknown, instance: Instance, policy: Record<string, unknown>) {
    const { fleet, calls } = fakeFleet(instance);
    const targets: AwsTarget[] = [];
    const assumed: [string, string][] = [];
    const memberCredentials = async () => ({ accessKeyId: 'member-key', secretAccessKey: 'member-secret' });
    const alerts: Alert[] = [];
    const services = kindServices((t) => {
      targets.push(t);
      return fleet;
    });
    const result = await answerStateChange(
      event,
      {
        policy: policyWith(policy),
        home: { region: 'us-east-1' },
        homeAccount: HOME_ACCOUNT,
        memberCredentials: (account, roleName) => {
          assumed.push([account, roleName]);
          return memberCredentials;
        },
        services,
        provisionedUsers: async () => ({ names: new Set(['alice']) }),
        alerts: { publish: async (a) => alerts.push(a) },
        log: () => {},
      },
      NOW,
    );
    return { result, calls, alerts, targets, assumed, memberCredentials };
  }

  const db: Instance = {
    ...gpuNotebook,
    kind: 'rds-instance',
    instanceId: 'course-db',
    instanceType: 'db.r6g.large',
    engine: 'postgres',
  };

  it.each<[string, unknown, Instance]>([
    ['a database', { ...rdsEvent('RDS-EVENT-0088'), account: MEMBER }, db],
    ['a notebook', { ...notebookEvent('InService'), account: MEMBER }, gpuNotebook],
  ])(
    'reads and stops %s in the member account with its member role, in the event region',
    async (_, event, instance) => {
      // Act
      const { result, calls, alerts, targets, assumed, memberCredentials } = await guardForwarded(
        event,
        instance,
        {
          accounts: [{ id: MEMBER, roleName: 'lab-sweeper' }],
          nonFreeTier: { action: 'stop' },
          launchGuard: { immediate: true },
        },
      );

      // Assess
      expect(assumed).toEqual([[MEMBER, 'lab-sweeper']]);
      expect(targets).toEqual([{ region: 'eu-west-1', account: MEMBER, credentials: memberCredentials }]);
      expect(result.status).toBe('stopped');
      expect(calls.map((c) => c.op)).toEqual(['stop', 'tag', 'untag']);
      expect(alerts.length).toBeGreaterThan(0);
    },
  );

  it('leaves a database of an account the policy does not sweep alone, without assuming any role', async () => {
    // Act
    const { result, targets, assumed, alerts } = await guardForwarded(
      { ...rdsEvent('RDS-EVENT-0088'), account: '999988887777' },
      db,
      { accounts: [{ id: MEMBER }] },
    );

    // Assess
    expect(result).toEqual({
      status: 'ignored',
      instanceId: 'course-db',
      reason: 'account 999988887777 is not one this watchdog sweeps (policy accounts / organization)',
    });
    expect(assumed).toEqual([]);
    expect(targets).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it('reads a notebook of the watchdog account itself with its own role', async () => {
    // Act
    const { targets, assumed } = await guardForwarded(
      { ...notebookEvent('InService'), account: HOME_ACCOUNT },
      gpuNotebook,
      { accounts: [{ id: MEMBER }] },
    );

    // Assess
    expect(assumed).toEqual([]);
    expect(targets).toEqual([{ region: 'eu-west-1' }]);
  });
});
