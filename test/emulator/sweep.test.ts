/**
 * The sweep Lambda handler end to end against moto: seed instances and CloudWatch datapoints, run the real
 * handler (its own SDK clients) at an injected time, and assert the instances' state, tags and the SNS
 * messages afterwards. moto launches everything "now", so the clock moves forward instead
 * (see docs/testing.md).
 */
import { CreateTagsCommand, ModifyInstanceAttributeCommand } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';
import type { SweepIncompleteError } from '../../src/handlers/sweep.js';
import {
  BUSY,
  hoursAfter,
  IDLE,
  instanceState,
  launchTimeOf,
  metricsSinceLaunch,
  minutesAfter,
  autoScalingMember,
  policyFile,
  recordingServices,
  sweepHandler,
} from './sweep-scenario.js';
import { clients, createTopic, resetEmulator, seedInstances, sentMessages } from './support.js';

const REGION = 'us-east-1';
const GRACE_MINUTES = 60;
const POLICY = `regions: [${REGION}]\ngraceMinutes: ${GRACE_MINUTES}\n`;

let topicArn: string;

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

/** The email text of an alert as published (MessageStructure json). */
function emailOf(message: string): string {
  return (JSON.parse(message) as { email: string }).email;
}

describe('a forgotten idle instance', () => {
  it('is warned at T with a tag and one email, and stopped at T + grace with the reason tagged and an email', async () => {
    // Prepare: a t3.micro left running for 3 hours at 0.5% CPU
    const [id] = (await seedInstances(REGION, { type: 't3.micro', tags: { Name: 'notebook' } })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    const stopTime = minutesAfter(t, GRACE_MINUTES);
    await metricsSinceLaunch(REGION, id, IDLE, launch, stopTime);
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act 1: the hourly run at T
    const first = await sweep.at(t);

    // Assess 1: warned, tagged, still running, one email to the admin
    expect(first).toMatchObject({ instancesSeen: 1, warned: [id], stopped: [], errors: [], alertsSent: 1 });
    expect(first.decisions).toEqual([
      expect.objectContaining({ instanceId: id, action: 'warn', rule: 'idle', protection: null }),
    ]);
    const warned = await instanceState(REGION, id);
    expect(warned.state).toBe('running');
    expect(warned.tags).toMatchObject({ [TAGS.warnedAt]: t.toISOString(), [TAGS.warnRule]: 'idle' });
    const afterFirst = await sentMessages(topicArn);
    expect(afterFirst).toHaveLength(1);
    expect(afterFirst[0]).toMatchObject({
      subject: 'cost-watchdog: 0 stopped, 1 warned',
      attributes: { audience: 'admin' },
    });
    expect(emailOf(afterFirst[0]?.message ?? '{}')).toMatch(
      new RegExp(`${id} \\(t3\\.micro, ${REGION}, notebook\\): idle: CPU avg 0\\.50% \\(limit 5%\\)`),
    );

    // Act 2: the run one grace period later, still idle
    const second = await sweep.at(stopTime);

    // Assess 2: stopped (not terminated), reason tagged, warning removed, a second email
    expect(second).toMatchObject({ warned: [], stopped: [id], errors: [], alertsSent: 1 });
    const stopped = await instanceState(REGION, id);
    expect(stopped.state).toBe('stopped');
    expect(stopped.tags[TAGS.stoppedAt]).toBe(stopTime.toISOString());
    expect(stopped.tags[TAGS.stopReason]).toMatch(/^idle: CPU avg 0\.50% \(limit 5%\), network 0\.05 MB/);
    expect(stopped.tags[TAGS.warnedAt]).toBeUndefined();
    expect(stopped.tags[TAGS.warnRule]).toBeUndefined();
    const all = await sentMessages(topicArn);
    expect(all.map((m) => m.subject)).toEqual([
      'cost-watchdog: 0 stopped, 1 warned',
      'cost-watchdog: 1 stopped, 0 warned',
    ]);
    expect(emailOf(all[1]?.message ?? '{}')).toContain('Stopped now (never terminated');
  });

  it('sends the owner their own email besides the admin summary', async () => {
    // Prepare
    const [id] = (await seedInstances(REGION, { tags: { Owner: 'alice' } })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    await metricsSinceLaunch(REGION, id, IDLE, launch, t);

    // Act
    await sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) }).at(t);

    // Assess
    const sent = await sentMessages(topicArn);
    expect(sent.map((m) => m.attributes)).toEqual([{ audience: 'admin' }, { owner: 'alice' }]);
    expect(emailOf(sent[1]?.message ?? '{}')).toMatch(/^Hello alice,/);
  });
});

describe('instances the watchdog leaves running', () => {
  it('stops none of a busy, an unmeasured, an exempt, a snoozed, an Auto Scaling and a stop-protected instance, and reports the idle protected ones', async () => {
    // Prepare
    const [busy, unmeasured, exempt, guarded] = (await seedInstances(
      REGION,
      { tags: { Name: 'busy' } },
      { tags: { Name: 'no-metrics' } },
      { tags: { Name: 'exempt', [TAGS.exempt]: 'true' } },
      { tags: { Name: 'guarded' }, stopProtected: true },
    )) as [string, string, string, string];
    const scaled = await autoScalingMember(REGION, 'lab-workers');
    const firstLaunch = await launchTimeOf(REGION, [busy]);
    const t = hoursAfter(await launchTimeOf(REGION, [busy, scaled]), 3);
    // Two days on: a date (its start, UTC) after the last run even when the runs cross midnight UTC.
    const tomorrow = new Date(t.getTime() + 48 * 3_600_000).toISOString().slice(0, 10);
    const [snoozed] = (await seedInstances(REGION, {
      tags: { Name: 'snoozed', [TAGS.exempt]: tomorrow },
    })) as [string];
    const end = minutesAfter(t, 2 * GRACE_MINUTES);
    await metricsSinceLaunch(REGION, busy, BUSY, firstLaunch, end);
    for (const id of [exempt, snoozed, scaled, guarded]) {
      await metricsSinceLaunch(REGION, id, IDLE, firstLaunch, end);
    }
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });
    const expectedProtection = {
      [exempt]: 'exempt',
      [snoozed]: 'snoozed',
      [scaled]: 'auto-scaling',
      [guarded]: 'stop-protected',
    };

    // Act: three runs, one grace period apart (a warning at the first would be due at the second)
    const runs = [];
    for (const at of [t, minutesAfter(t, GRACE_MINUTES), end]) runs.push(await sweep.at(at));

    // Assess
    for (const run of runs) {
      expect(run).toMatchObject({ instancesSeen: 6, warned: [], stopped: [], errors: [] });
      const reported = Object.fromEntries(
        run.decisions.filter((d) => d.action === 'report').map((d) => [d.instanceId, d.protection]),
      );
      expect(reported).toEqual(expectedProtection);
      // busy and unmeasured are fine: not in the summary's non-"none" decisions
      expect(run.decisions.map((d) => d.instanceId)).not.toContain(busy);
      expect(run.decisions.map((d) => d.instanceId)).not.toContain(unmeasured);
      expect(run.decisions.find((d) => d.instanceId === scaled)?.reasons[0]).toBe(
        'never stopped: member of Auto Scaling group lab-workers (tag aws:autoscaling:groupName, set by AWS)',
      );
    }
    for (const id of [busy, unmeasured, exempt, snoozed, scaled, guarded]) {
      const now = await instanceState(REGION, id);
      expect(now.state, id).toBe('running');
      expect(now.tags[TAGS.warnedAt], id).toBeUndefined();
    }
    // Nothing was warned or stopped, so nobody was emailed.
    expect(await sentMessages(topicArn)).toEqual([]);
  });

  it('stops a snoozed instance once its snooze date has passed (after a warning)', async () => {
    // Prepare: snoozed until the day of T, so the snooze is over at T
    const [id] = (await seedInstances(REGION, {})) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    const { ec2 } = clients(REGION);
    await ec2.send(
      new CreateTagsCommand({
        Resources: [id],
        Tags: [{ Key: TAGS.exempt, Value: t.toISOString().slice(0, 10) }],
      }),
    );
    await metricsSinceLaunch(REGION, id, IDLE, launch, minutesAfter(t, GRACE_MINUTES));
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act
    const first = await sweep.at(t);
    const second = await sweep.at(minutesAfter(t, GRACE_MINUTES));

    // Assess
    expect(first.warned).toEqual([id]);
    expect(second.stopped).toEqual([id]);
    expect((await instanceState(REGION, id)).state).toBe('stopped');
  });
});

describe('an idle instance launched with tags that only claim to be a Kubernetes node', () => {
  it('is warned and then stopped like any other, and the alert says the tags were not trusted', async () => {
    // Prepare: launched with the tags a student could add at launch to pass as an EKS node
    const [id] = (await seedInstances(REGION, {
      tags: { Owner: 'zoe', 'kubernetes.io/cluster/lab': 'owned', 'eks:cluster-name': 'lab' },
    })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    await metricsSinceLaunch(REGION, id, IDLE, launch, minutesAfter(t, GRACE_MINUTES));
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act
    const first = await sweep.at(t);
    const second = await sweep.at(minutesAfter(t, GRACE_MINUTES));

    // Assess
    expect(first.warned).toEqual([id]);
    expect(first.decisions[0]).toMatchObject({ protection: null, action: 'warn', rule: 'idle' });
    expect(second.stopped).toEqual([id]);
    expect((await instanceState(REGION, id)).state).toBe('stopped');
    const [adminAlert] = await sentMessages(topicArn);
    expect(emailOf(adminAlert?.message ?? '{}')).toMatch(
      /not treated as managed: tag eks:cluster-name, kubernetes\.io\/cluster\/lab can be set by anyone/,
    );
  });
});

describe('an instance used again after its warning', () => {
  it('loses the warning tag and is never stopped', async () => {
    // Prepare: idle until T, busy in the hour after it
    const [id] = (await seedInstances(REGION, {})) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 3);
    const later = minutesAfter(t, GRACE_MINUTES);
    await metricsSinceLaunch(REGION, id, IDLE, launch, t);
    await metricsSinceLaunch(REGION, id, BUSY, minutesAfter(t, 5), later);
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act
    const first = await sweep.at(t);
    const second = await sweep.at(later);

    // Assess
    expect(first.warned).toEqual([id]);
    expect(second).toMatchObject({ warned: [], stopped: [], cleared: [id], errors: [] });
    const now = await instanceState(REGION, id);
    expect(now.state).toBe('running');
    expect(now.tags[TAGS.warnedAt]).toBeUndefined();
    expect(now.tags[TAGS.warnRule]).toBeUndefined();
    // One email for the warning; clearing it is not worth an email.
    expect((await sentMessages(topicArn)).map((m) => m.subject)).toEqual([
      'cost-watchdog: 0 stopped, 1 warned',
    ]);
  });
});

describe('instances that are not free tier or have run too long', () => {
  it.each([
    { action: 'notify', first: 'report', second: 'report', finalState: 'running', emails: 0 },
    { action: 'stop', first: 'warn', second: 'stop', finalState: 'stopped', emails: 2 },
  ])(
    'with nonFreeTier.action $action, a busy t3.large is $first at T and $second after the grace',
    async ({ action, first, second, finalState, emails }) => {
      // Prepare: t3.large is not FreeTierEligible in moto (t3.micro is); busy, so only the type rule holds
      const [id] = (await seedInstances(REGION, { type: 't3.large' })) as [string];
      const launch = await launchTimeOf(REGION, [id]);
      const t = hoursAfter(launch, 3);
      const later = minutesAfter(t, GRACE_MINUTES);
      await metricsSinceLaunch(REGION, id, BUSY, launch, later);
      const policy = policyFile(`${POLICY}nonFreeTier:\n  action: ${action}\n`);
      const sweep = sweepHandler({ region: REGION, topicArn, policy });

      // Act
      const runs = [await sweep.at(t), await sweep.at(later)];

      // Assess
      expect(runs.map((r) => r.decisions.map((d) => [d.action, d.rule]))).toEqual([
        [[first, 'non-free-tier']],
        [[second, 'non-free-tier']],
      ]);
      expect(runs[0]?.decisions[0]?.reasons[0]).toMatch(
        /^not free tier: t3\.large is not free-tier eligible/,
      );
      expect((await instanceState(REGION, id)).state).toBe(finalState);
      expect(await sentMessages(topicArn)).toHaveLength(emails);
    },
  );

  it('warns a busy free-tier instance running longer than maxRunningHours, and stops it after the grace', async () => {
    // Prepare: 25 hours after launch (the free-tier limit is 24 h), busy all along
    const [id] = (await seedInstances(REGION, { type: 't3.micro' })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const t = hoursAfter(launch, 25);
    const later = minutesAfter(t, GRACE_MINUTES);
    await metricsSinceLaunch(REGION, id, BUSY, hoursAfter(launch, 22), later);
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act 1
    const first = await sweep.at(t);

    // Assess 1
    expect(first.decisions).toEqual([expect.objectContaining({ action: 'warn', rule: 'over-uptime' })]);
    expect(first.decisions[0]?.reasons.slice(0, 2)).toEqual([
      expect.stringMatching(
        /^over uptime: running 25\.\d h since its last start \(limit 24 h for free-tier types\)$/,
      ),
      expect.stringMatching(/^busy: CPU avg 60\.0% \(limit 5%\)/),
    ]);
    expect((await instanceState(REGION, id)).tags[TAGS.warnRule]).toBe('over-uptime');

    // Act 2
    const second = await sweep.at(later);

    // Assess 2
    expect(second.stopped).toEqual([id]);
    const after = await instanceState(REGION, id);
    expect(after.state).toBe('stopped');
    expect(after.tags[TAGS.stopReason]).toMatch(/^over uptime: running 26\.\d h/);
  });
});

describe('a dry run', () => {
  it('makes the same decisions as a real run, but writes no tag, stops nothing and only tells the admin (DRY RUN)', async () => {
    // Prepare: one idle (warn), one idle and warned over an hour ago (stop), one busy, one exempt and idle
    const [idle, due, busy, exempt] = (await seedInstances(
      REGION,
      {},
      {},
      {},
      { tags: { [TAGS.exempt]: 'true' } },
    )) as [string, string, string, string];
    const launch = await launchTimeOf(REGION, [idle, due, busy, exempt]);
    const t = hoursAfter(launch, 3);
    const { ec2 } = clients(REGION);
    await ec2.send(
      new CreateTagsCommand({
        Resources: [due],
        Tags: [
          { Key: TAGS.warnedAt, Value: minutesAfter(t, -GRACE_MINUTES - 1).toISOString() },
          { Key: TAGS.warnRule, Value: 'idle' },
        ],
      }),
    );
    for (const id of [idle, due, exempt]) await metricsSinceLaunch(REGION, id, IDLE, launch, t);
    await metricsSinceLaunch(REGION, busy, BUSY, launch, t);
    const before = await Promise.all([idle, due, busy, exempt].map((id) => instanceState(REGION, id)));
    const dry = sweepHandler({ region: REGION, topicArn, policy: policyFile(`${POLICY}dryRun: true\n`) });
    const real = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY) });

    // Act
    const dryRun = await dry.at(t);
    const afterDryRun = await Promise.all([idle, due, busy, exempt].map((id) => instanceState(REGION, id)));
    const emailsAfterDryRun = await sentMessages(topicArn);
    const realRun = await real.at(t);

    // Assess
    expect(dryRun).toMatchObject({ dryRun: true, warned: [], stopped: [], cleared: [], alertsSent: 1 });
    expect(afterDryRun).toEqual(before);
    // One report, to the admin only, clearly marked, naming what would have been done
    expect(emailsAfterDryRun).toHaveLength(1);
    const [report] = emailsAfterDryRun;
    expect(report?.subject).toBe('cost-watchdog DRY RUN: would stop 1, would warn 1');
    expect(report?.attributes).toEqual({ audience: 'admin' });
    const text = (JSON.parse(report?.message ?? '{}') as { email: string }).email;
    expect(text).toMatch(
      /^DRY RUN: watchdog\.yml has dryRun: true, so nothing was tagged, stopped or sent to owners\./,
    );
    expect(text).toContain(`Would have stopped now (1):\n- ${due} (`);
    expect(text).toContain(
      `Would have warned (and stopped after the ${GRACE_MINUTES}-minute grace period unless they change) (1):\n- ${idle} (`,
    );
    const byId = (r: typeof dryRun) =>
      Object.fromEntries(r.decisions.map((d) => [d.instanceId, [d.action, d.rule, d.protection, d.reasons]]));
    expect(byId(dryRun)).toEqual(byId(realRun));
    expect(Object.fromEntries(dryRun.decisions.map((d) => [d.instanceId, d.action]))).toEqual({
      [idle]: 'warn',
      [due]: 'stop',
      [exempt]: 'report',
    });
    expect(realRun).toMatchObject({ dryRun: false, warned: [idle], stopped: [due] });
  });
});

describe('an instance that cannot be stopped', () => {
  it('does not keep the others running, and the run report and the email list the error', async () => {
    // Prepare: three idle instances warned over an hour ago; a user turns stop protection on for one of them
    // after the sweep checked it and before StopInstances (moto then refuses it, as AWS does)
    const ids = (await seedInstances(REGION, { count: 3 })) as [string, string, string];
    const [, victim] = ids;
    const launch = await launchTimeOf(REGION, ids);
    const t = hoursAfter(launch, 3);
    const { ec2 } = clients(REGION);
    await ec2.send(
      new CreateTagsCommand({
        Resources: ids,
        Tags: [
          { Key: TAGS.warnedAt, Value: minutesAfter(t, -90).toISOString() },
          { Key: TAGS.warnRule, Value: 'idle' },
        ],
      }),
    );
    for (const id of ids) await metricsSinceLaunch(REGION, id, IDLE, launch, t);
    let raced = false;
    const { services, sent } = recordingServices(async (request) => {
      if (request.command !== 'StopInstancesCommand' || raced) return;
      raced = true;
      await ec2.send(
        new ModifyInstanceAttributeCommand({ InstanceId: victim, DisableApiStop: { Value: true } }),
      );
    });
    const sweep = sweepHandler({ region: REGION, topicArn, policy: policyFile(POLICY), services });

    // Act
    const run = sweep.at(t);

    // Assess: the handler fails (so the Lambda error alarm fires) after doing everything it could
    await expect(run).rejects.toMatchObject({ name: 'SweepIncompleteError' });
    const summary = ((await run.catch((e: unknown) => e)) as SweepIncompleteError).summary;
    const others = ids.filter((id) => id !== victim);
    expect([...summary.stopped].sort()).toEqual([...others].sort());
    expect(summary.errors).toEqual([
      {
        region: REGION,
        instanceId: victim,
        operation: 'ec2:StopInstances',
        message: expect.stringMatching(/^OperationNotPermitted/),
      },
    ]);
    expect((await instanceState(REGION, victim)).state).toBe('running');
    for (const id of others) expect((await instanceState(REGION, id)).state).toBe('stopped');
    // one batch call, then one call per instance after it failed
    expect(sent.filter((r) => r.command === 'StopInstancesCommand').map((r) => r.input.InstanceIds)).toEqual([
      ids,
      [ids[0]],
      [ids[1]],
      [ids[2]],
    ]);
    const [email] = await sentMessages(topicArn);
    expect(email?.subject).toBe('cost-watchdog: 2 stopped, 0 warned, 1 errors');
    expect(emailOf(email?.message ?? '{}')).toMatch(
      new RegExp(
        `Errors \\(1\\); everything else went ahead:\\n- ${REGION} ${victim} ec2:StopInstances: OperationNotPermitted`,
      ),
    );
  });
});
