/**
 * Quiet hours end to end against moto: the real sweep handler (its own SDK clients, keep links signed with the key it
 * creates in SSM) at injected times around a quiet window, the real actions handler answering a keep link from the
 * owner's email, and the morning start. moto launches "now", so the window is placed a few hours after the launch.
 */
import { CreateTagsCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, it } from 'vitest';
import { formatLocalTime } from '../../src/core/local-time.js';
import type { LogRecord } from '../../src/core/log.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import { createActionsHandler } from '../../src/handlers/actions.js';
import { createSweepHandler, type SweepSummary } from '../../src/handlers/sweep.js';
import { cli, instanceState, launchTimeOf, minutesAfter, policyFile } from './sweep-scenario.js';
import {
  clients,
  createTopic,
  DEFAULT_REGION,
  endpoint,
  resetEmulator,
  seedInstances,
  sentMessages,
} from './support.js';

const REGION = DEFAULT_REGION;
const GRACE = 60;
const ACTIONS_URL = 'https://abc123.lambda-url.us-east-1.on.aws/';

let topicArn: string;

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

/** "HH:MM" of a time on the UTC clock. */
function hhmm(at: Date): string {
  return at.toISOString().slice(11, 16);
}

/**
 * A policy whose only quiet window starts at `start` (UTC) every day and lasts two hours, with the morning start;
 * no uptime limit, so that only quiet hours act on instances without metrics.
 */
function quietPolicy(start: Date): string {
  return [
    `regions: [${REGION}]`,
    'timeZone: UTC',
    `graceMinutes: ${GRACE}`,
    'maxRunningHours: { freeTier: null, nonFreeTier: null }',
    'quietHours:',
    '  morningStart: true',
    `  windows: [{ from: "${hhmm(start)}", to: "${hhmm(minutesAfter(start, 120))}" }]`,
    '',
  ].join('\n');
}

/** The real sweep handler as serverless.yml configures it, with keep links to the actions URL. */
function sweepHandler(policy: string) {
  let now = new Date(0);
  const logs: LogRecord[] = [];
  const handler = createSweepHandler({
    clock: () => now,
    env: {
      AWS_REGION: REGION,
      TOPIC_ARN: topicArn,
      POLICY_FILE: policy,
      AWS_ENDPOINT_URL: endpoint(),
      ACTIONS_URL,
      SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
    },
    log: (r) => logs.push(r),
  });
  return {
    logs,
    at(at: Date): Promise<SweepSummary> {
      now = at;
      return handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    },
  };
}

/** The real actions handler, answering a POST (the page's button) at `now`. */
function confirm(policy: string, url: string, now: Date) {
  const token = new URL(url).searchParams.get('t') ?? '';
  const handler = createActionsHandler({
    clock: () => now,
    env: {
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: endpoint(),
      TOPIC_ARN: topicArn,
      POLICY_FILE: policy,
      SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
    },
    log: () => {},
  });
  return handler({
    version: '2.0',
    rawQueryString: `t=${token}`,
    queryStringParameters: { t: token },
    body: `t=${encodeURIComponent(token)}`,
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  });
}

/** The owner's email text and JSON of the newest message to `owner`. */
async function ownerMail(owner: string) {
  const mine = (await sentMessages(topicArn)).filter((m) => m.attributes.owner === owner);
  const message = JSON.parse(mine[mine.length - 1]?.message ?? '{}') as { email: string; default: string };
  return {
    email: message.email,
    data: JSON.parse(message.default) as {
      decisions: { instanceId: string; links?: { keepTomorrow: string; keepTomorrowUntil: string } }[];
    },
  };
}

describe('a class under quiet hours', () => {
  it('is warned before the window, stopped at its start unless kept or protected, and started again after it', async () => {
    // Prepare: alice keeps hers by a link, bob forgets his, carol's is exempt, dave's is stop-protected; erin stopped
    // hers herself and frank's was stopped through a link (its tags name quiet hours, but not the sweep as stopper)
    const [alice, bob, carol, dave, erin, frank] = (await seedInstances(
      REGION,
      { tags: { Name: 'alice-notebook', Owner: 'alice' } },
      { tags: { Name: 'bob-notebook', Owner: 'bob' } },
      { tags: { Name: 'carol-run', Owner: 'carol', [TAGS.exempt]: 'true' } },
      { tags: { Name: 'dave-run', Owner: 'dave' }, stopProtected: true },
      { tags: { Name: 'erin-notebook', Owner: 'erin' } },
      { tags: { Name: 'frank-notebook', Owner: 'frank' } },
    )) as [string, string, string, string, string, string];
    const { ec2 } = clients(REGION);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [erin, frank] }));
    await ec2.send(
      new CreateTagsCommand({
        Resources: [frank],
        Tags: [
          { Key: TAGS.stoppedBy, Value: 'link' },
          { Key: TAGS.stopRule, Value: 'quiet-hours' },
          { Key: TAGS.stoppedAt, Value: new Date().toISOString() },
        ],
      }),
    );
    const launch = await launchTimeOf(REGION, [alice, bob, carol, dave]);
    const start = new Date(Math.ceil((launch.getTime() + 3 * 3_600_000) / 300_000) * 300_000);
    const end = minutesAfter(start, 120);
    const warnAt = minutesAfter(start, -(GRACE + 5));
    const policy = policyFile(quietPolicy(start));
    const sweep = sweepHandler(policy);

    // Act 1: the run at the warning time (grace + 5 minutes before the window)
    const before = await sweep.at(minutesAfter(warnAt, -1));
    const warned = await sweep.at(warnAt);

    // Assess 1: nothing before; then alice and bob warned, carol and dave only reported, each owner emailed
    expect([before.warned, before.stopped]).toEqual([[], []]);
    expect(warned).toMatchObject({ warned: [alice, bob], stopped: [], errors: [] });
    expect(
      Object.fromEntries(warned.decisions.map((d) => [d.instanceId, [d.action, d.rule, d.protection]])),
    ).toEqual({
      [alice]: ['warn', 'quiet-hours', null],
      [bob]: ['warn', 'quiet-hours', null],
      [carol]: ['report', 'quiet-hours', 'exempt'],
      [dave]: ['report', 'quiet-hours', 'stop-protected'],
    });
    expect((await instanceState(REGION, bob)).tags).toMatchObject({
      [TAGS.warnedAt]: warnAt.toISOString(),
      [TAGS.warnRule]: 'quiet-hours',
    });
    const mail = await ownerMail('alice');
    expect(mail.email).toContain('Quiet hours (1):');
    expect(mail.email).toContain(`It will be stopped after ${formatLocalTime(start, 'UTC')}.`);
    const links = mail.data.decisions.find((d) => d.instanceId === alice)?.links;
    expect(Date.parse(links?.keepTomorrowUntil ?? '')).toBeGreaterThanOrEqual(end.getTime());

    // Act 2: alice keeps hers with the "keep until" link from her email, 10 minutes later
    const kept = await confirm(policy, links?.keepTomorrow ?? '', minutesAfter(warnAt, 10));

    // Assess 2: snoozed until the link's time, warning answered
    expect(kept.statusCode).toBe(303);
    expect((await instanceState(REGION, alice)).tags).toMatchObject({
      [TAGS.exempt]: links?.keepTomorrowUntil,
    });
    expect((await instanceState(REGION, alice)).tags[TAGS.warnedAt]).toBeUndefined();

    // Act 3: the run between the warning and the window, and the run at the window's start
    const between = await sweep.at(minutesAfter(start, -1));
    const atStart = await sweep.at(start);

    // Assess 3: bob's warning stayed until the start; at the start only bob's was stopped, with the rule recorded
    expect([between.stopped, between.cleared]).toEqual([[], []]);
    expect(atStart).toMatchObject({ warned: [], stopped: [bob], errors: [] });
    const stopped = await instanceState(REGION, bob);
    expect(stopped.state).toBe('stopped');
    expect(stopped.tags).toMatchObject({
      [TAGS.stoppedAt]: start.toISOString(),
      [TAGS.stoppedBy]: 'sweep',
      [TAGS.stopRule]: 'quiet-hours',
    });
    expect(stopped.tags[TAGS.stopReason]).toMatch(/^quiet hours from /);
    for (const id of [alice, carol, dave])
      expect((await instanceState(REGION, id)).state, id).toBe('running');

    // Act 4: a run inside the window, then the morning start at its end, then a run an hour later
    const night = await sweep.at(minutesAfter(start, 60));
    const morning = await sweep.at(end);
    const later = await sweep.at(minutesAfter(end, 60));

    // Assess 4: only bob's instance, which quiet hours stopped, was started, once; erin's and frank's stayed stopped
    expect(night.morningStart?.started).toEqual([]);
    expect(morning.errors).toEqual([]);
    expect(morning.morningStart?.started).toEqual([bob]);
    expect(later.morningStart?.started).toEqual([]);
    expect(['pending', 'running']).toContain((await instanceState(REGION, bob)).state);
    expect((await instanceState(REGION, bob)).tags).toMatchObject({
      [TAGS.startedAt]: end.toISOString(),
      [TAGS.startedBy]: 'morning-start',
    });
    for (const id of [erin, frank]) expect((await instanceState(REGION, id)).state, id).toBe('stopped');
    const subjects = (await sentMessages(topicArn)).map((m) => m.subject);
    expect(subjects).toContain('cost-watchdog: 1 started after quiet hours');
    expect(subjects).toContain('cost-watchdog: 1 started after quiet hours (bob)');
  });

  it('plan --at shows the quiet-hours warning, then the stop, and what the morning start would start', async () => {
    // Prepare
    const [id] = (await seedInstances(REGION, { tags: { Name: 'notebook', Owner: 'alice' } })) as [string];
    const launch = await launchTimeOf(REGION, [id]);
    const start = new Date(Math.ceil((launch.getTime() + 3 * 3_600_000) / 300_000) * 300_000);
    const policy = policyFile(quietPolicy(start));
    const args = ['--endpoint-url', endpoint(), '--region', REGION, '--policy', policy];
    const sweep = sweepHandler(policy);

    // Act: plan at the warning time; a real sweep there and at the start; plan at the window's end
    const planWarn = await cli('plan', ...args, '--at', minutesAfter(start, -(GRACE + 5)).toISOString());
    await sweep.at(minutesAfter(start, -(GRACE + 5)));
    const planStop = await cli('plan', ...args, '--at', start.toISOString());
    await sweep.at(start);
    const planMorning = await cli('plan', ...args, '--at', minutesAfter(start, 120).toISOString());

    // Assess
    expect(planWarn.code).toBe(0);
    expect(planWarn.out).toMatch(
      new RegExp(`${id} +notebook +t3\\.micro +${REGION} +alice +WARN +quiet-hours`),
    );
    expect(planStop.out).toMatch(new RegExp(`${id} +notebook .* STOP +quiet-hours`));
    expect(planMorning.out).toContain('Morning start (quiet hours): 1 to start of 1 stopped by quiet hours.');
    expect(planMorning.out).toMatch(
      new RegExp(`${id} +notebook +${REGION} +alice +START +stopped by quiet hours`),
    );
    // plan changes nothing
    expect((await instanceState(REGION, id)).state).toBe('stopped');
  });
});
