/**
 * A dry-run day (`dryRun: true` in watchdog.yml): the sweep changes nothing but tells the admin what it would have
 * done, clearly marked DRY RUN; owners get nothing; the digest still comes, marked DRY RUN, and records nothing. A
 * dry run the caller asks for (plan, sweep --dry-run) sends nothing at all.
 */
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { memorySsm } from '../support/ssm-memory.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sdkCostServices } from '../../src/aws/cost-services.js';
import { PriceLookup } from '../../src/aws/pricing.js';
import { sdkSweepServices } from '../../src/aws/services.js';
import { TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { sendDigest } from '../../src/jobs/digest.js';
import { runSweep } from '../../src/jobs/sweep.js';
import { hoursAgo, idleMetrics, makeInstance, NOW, policyWith } from '../support/fleet.js';
import { InMemoryFleet } from './in-memory-fleet.js';

let fleet: InMemoryFleet;
let alerts: Alert[];
const publish = async (a: Alert) => {
  alerts.push(a);
};

function addIdle(tags: Record<string, string> = {}) {
  const instance = makeInstance({ tags });
  fleet.add({ instance, state: 'running', stopProtected: false });
  fleet.metrics.set(instance.instanceId, idleMetrics());
  return instance;
}

describe('the sweep on a dry-run day', () => {
  beforeEach(() => {
    fleet = new InMemoryFleet();
    fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
    alerts = [];
  });

  it('sends the admin one DRY RUN report of what it would have done, and changes nothing', async () => {
    // Prepare
    const fresh = addIdle({ Owner: 'bob' });
    const due = addIdle({ Owner: 'carol', [TAGS.warnedAt]: hoursAgo(2), [TAGS.warnRule]: 'idle' });

    // Act
    const report = await runSweep({
      policy: policyWith({ dryRun: true }),
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
      publish,
    });

    // Assess
    expect(fleet.calls).toEqual([]);
    expect(report).toMatchObject({ dryRun: true, warned: [], stopped: [], alertsSent: 1 });
    expect(alerts).toHaveLength(1);
    const [alert] = alerts as [Alert];
    expect(alert.owner).toBeUndefined();
    expect(alert.subject).toBe('cost-watchdog DRY RUN: would stop 1, would warn 1');
    expect(alert.text.split('\n')[0]).toMatch(/^DRY RUN: watchdog\.yml has dryRun: true/);
    expect(alert.text).toContain(`Would have stopped now (1):\n- ${due.instanceId} (t3.micro, us-east-1`);
    expect(alert.text).toContain(`- ${fresh.instanceId} (t3.micro, us-east-1`);
    expect(alert.data).toMatchObject({
      dryRun: true,
      wouldStop: [due.instanceId],
      wouldWarn: [fresh.instanceId],
    });
  });

  it('sends nothing when nothing would have been done', async () => {
    const report = await runSweep({
      policy: policyWith({ dryRun: true }),
      now: NOW,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
      publish,
    });

    expect(report.alertsSent).toBe(0);
    expect(alerts).toEqual([]);
  });

  it('sends nothing in a dry run the caller asked for (plan, sweep --dry-run)', async () => {
    addIdle();

    await runSweep({
      policy: policyWith({ dryRun: true }),
      now: NOW,
      dryRun: true,
      targets: [{ region: 'us-east-1' }],
      services: fleet.services(),
      publish,
    });

    expect(alerts).toEqual([]);
  });
});

describe('the digest on a dry-run day', () => {
  const ec2 = mockClient(EC2Client);
  let ssm: ReturnType<typeof memorySsm>;

  beforeEach(() => {
    ec2.reset();
    ec2.onAnyCommand().resolves({});
    ssm = memorySsm();
    alerts = [];
  });
  afterEach(() => ssm.ssm.restore());

  const digest = (dryRun: boolean) =>
    sendDigest(
      {
        policy: policyWith({ dryRun, regions: ['us-east-1'] }),
        home: { region: 'us-east-1' },
        services: sdkSweepServices(() => NOW),
        costs: () => ({ ...sdkCostServices({ region: 'us-east-1' }), prices: new PriceLookup() }),
        alerts: { publish },
      },
      NOW,
    );

  it('is sent, marked DRY RUN, and records nothing', async () => {
    const { summary } = await digest(true);

    expect(summary.sent).toBe(true);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.subject).toMatch(/^\[DRY RUN\] /);
    expect(alerts[0]?.text).toMatch(/^DRY RUN: /);
    expect(alerts[0]?.data).toMatchObject({ dryRun: true });
    expect(ssm.ssm).not.toHaveReceivedCommand(PutParameterCommand);
  });

  it('is sent unmarked, and records the day, when the watchdog acts', async () => {
    await digest(false);

    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.subject).not.toContain('DRY RUN');
    expect(ssm.ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: '/cost-watchdog/usage/2026-11/saved',
    });
  });
});
