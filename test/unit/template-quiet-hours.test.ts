/**
 * The packaged stack with quiet hours (serverless.yml + scripts/serverless-params.cjs, packaged with its own
 * watchdog.yml): the sweep gets a schedule at every window edge, and its role may start again only the instances quiet
 * hours stopped, and only with morningStart (judged by the IAM simulator). Without quiet hours nothing changes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EC2_MORNING_START_PERMISSIONS } from '../../src/aws/ec2.js';
import type { PolicyDocument, Statement } from '../../src/core/provisioning/guardrail.js';
import { parsePolicyText, TAGS } from '../../src/core/policy.js';
import { QUIET_HOURS_RUN_INPUT, quietHoursSchedules } from '../../src/core/quiet-schedules.js';
import { ACCOUNT, authorize } from '../support/iam-simulator.js';
import { actionsOf, packagedTemplate, roleStatements, type Template } from '../support/packaged-template.js';

const QUIET = [
  'schedule: rate(1 hour)',
  'timeZone: Europe/Berlin',
  'graceMinutes: 60',
  'quietHours:',
  '  morningStart: true',
  '  windows:',
  '    - { days: [mon, tue, wed, thu, fri], from: "22:00", to: "07:00" }',
  '    - { days: [sat, sun], from: "00:00", to: "24:00", timeZone: America/New_York }',
  '',
].join('\n');

/** The ScheduleExpression of every EventBridge rule that targets the sweep function. */
function sweepSchedules(template: Template): string[] {
  return Object.values(template.Resources)
    .filter(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('SweepLambdaFunction') &&
        r.Properties?.ScheduleExpression !== undefined,
    )
    .map((r) => String(r.Properties?.ScheduleExpression));
}

/** The sweep role's statements about ec2:StartInstances, with the Fn::Sub resources resolved for the simulator. */
function startStatements(template: Template): Statement[] {
  const resolve = (value: unknown): unknown =>
    typeof value === 'object' && value !== null && 'Fn::Sub' in value
      ? String((value as { 'Fn::Sub': string })['Fn::Sub'])
          .replaceAll('${AWS::Partition}', 'aws')
          .replaceAll('${AWS::AccountId}', ACCOUNT)
      : value;
  return roleStatements(template, 'SweepRole')
    .filter((s) => actionsOf(s).includes('ec2:StartInstances'))
    .map((s) => ({ ...s, Resource: resolve(s.Resource) }) as unknown as Statement);
}

/** Whether the sweep role may start an instance carrying `tags`. */
async function mayStart(template: Template, tags: Record<string, string>): Promise<string> {
  const role: PolicyDocument = { Version: '2012-10-17', Statement: startStatements(template) };
  const outcome = await authorize([role], {
    action: 'ec2:StartInstances',
    resource: `arn:aws:ec2:eu-central-1:${ACCOUNT}:instance/i-0123456789abcdef0`,
    context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
  });
  return outcome.verdict;
}

const QUIET_RECORD = { [TAGS.stopRule]: 'quiet-hours', [TAGS.stoppedBy]: 'sweep' };

describe('the packaged stack with quiet hours', () => {
  let quiet: Template;
  let plain: Template;

  beforeAll(() => {
    quiet = packagedTemplate({}, { policy: QUIET });
    plain = packagedTemplate();
  }, 600_000);

  it('schedules the sweep at its own rate and at every warning time, start and end of the windows, in UTC', () => {
    const expected = ['rate(1 hour)', ...quietHoursSchedules(parsePolicyText(QUIET))];

    expect(sweepSchedules(quiet).sort()).toEqual([...expected].sort());
    // Berlin's 22:00 start in winter (21:00 UTC) and summer (20:00 UTC), and its warning 65 minutes before.
    expect(sweepSchedules(quiet)).toEqual(
      expect.arrayContaining([
        'cron(0 21 ? * MON,TUE,WED,THU,FRI *)',
        'cron(0 20 ? * MON,TUE,WED,THU,FRI *)',
        'cron(55 19 ? * MON,TUE,WED,THU,FRI *)',
        'cron(55 18 ? * MON,TUE,WED,THU,FRI *)',
      ]),
    );
    // Each schedule may invoke the sweep.
    const permissions = Object.values(quiet.Resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        r.Properties?.Principal === 'events.amazonaws.com' &&
        JSON.stringify(r.Properties?.FunctionName).includes('SweepLambdaFunction'),
    );
    expect(permissions).toHaveLength(expected.length);
  });

  it("sends the quiet-hours runs an event of their own (they record no usage), the policy's schedule the usual one", () => {
    const rules = Object.values(quiet.Resources).filter(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties?.Targets).includes('SweepLambdaFunction'),
    );
    const inputOf = (r: (typeof rules)[number]) =>
      (r.Properties?.Targets as { Input?: string }[] | undefined)?.[0]?.Input;

    const rate = rules.filter((r) => r.Properties?.ScheduleExpression === 'rate(1 hour)');
    const crons = rules.filter((r) => String(r.Properties?.ScheduleExpression).startsWith('cron('));

    expect(rate.map(inputOf)).toEqual([undefined]);
    expect(crons.length).toBeGreaterThan(0);
    for (const r of crons) expect(JSON.parse(inputOf(r) ?? '{}')).toEqual(QUIET_HOURS_RUN_INPUT);
  });

  it('keeps the one rate schedule without quiet hours', () => {
    expect(sweepSchedules(plain)).toEqual(['rate(1 hour)']);
  });

  it('lets the sweep start only instances whose stop record says quiet hours stopped them', async () => {
    expect(startStatements(quiet).map((s) => s.Effect)).toEqual(['Allow']);
    expect(await mayStart(quiet, QUIET_RECORD)).toBe('allow');
    expect(await mayStart(quiet, {})).toBe('implicit-deny');
    expect(await mayStart(quiet, { ...QUIET_RECORD, [TAGS.stoppedBy]: 'link' })).toBe('implicit-deny');
    expect(await mayStart(quiet, { ...QUIET_RECORD, [TAGS.stopRule]: 'idle' })).toBe('implicit-deny');
    expect(await mayStart(quiet, { [TAGS.stopRule]: 'quiet-hours' })).toBe('implicit-deny');
    expect(startStatements(quiet).map((s) => s.Action)).toEqual([...EC2_MORNING_START_PERMISSIONS]);
  });

  it('lets the sweep start nothing without morningStart', async () => {
    expect(startStatements(plain).map((s) => s.Effect)).toEqual(['Deny']);
    expect(await mayStart(plain, QUIET_RECORD)).toBe('explicit-deny');
    expect(await mayStart(plain, {})).toBe('implicit-deny');
  });

  it('never terminates anything, with or without quiet hours', () => {
    for (const t of [quiet, plain])
      expect(JSON.stringify(t), 'never terminate').not.toMatch(/TerminateInstances/);
  });

  it('refuses to package a watchdog.yml with a bad window, naming the field and the value', () => {
    expect(() =>
      packagedTemplate(
        {},
        { policy: 'quietHours:\n  windows: [{ days: [fri], from: "10pm", to: "07:00" }]\n' },
      ),
    ).toThrow(/quietHours\.windows\.0\.from: "10pm" is not a time of day/);
  }, 300_000);
});
