import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../../src/cli/main.js';

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), name);
  writeFileSync(path, text);
  return path;
}

describe('the cost-watchdog CLI', () => {
  it('lists every command in --help', async () => {
    const { code, out } = await run('--help');

    expect(code).toBe(0);
    for (const c of COMMANDS) expect(out).toContain(`  ${c.name}`);
    expect(out).toContain('--endpoint-url URL');
  });

  it.each(COMMANDS.map((c) => c.name))('has --help for %s', async (name) => {
    const { code, out } = await run(name, '--help');

    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`^cost-watchdog ${name}`));
    expect(out).toContain('Common options:');
    expect(out).toContain('-h, --help');
  });

  it('names an unknown command and lists the real ones', async () => {
    const { code, err } = await run('stopall');

    expect(code).toBe(2);
    expect(err).toMatch(/unknown command "stopall"\. Commands: plan, sweep, validate/);
  });

  it('names an unknown flag', async () => {
    const { code, err } = await run('plan', '--terminate');

    expect(code).toBe(2);
    expect(err).toBe('error: unknown option "--terminate" for plan. See cost-watchdog plan --help.');
  });

  it.each([
    [['plna'], /unknown command "plna": did you mean "plan"\? Commands: plan, sweep/],
    [['stauts'], /unknown command "stauts": did you mean "status"\?/],
    [['plan', '--regoin', 'us-east-1'], /unknown option "--regoin" for plan: did you mean --region\?/],
    [['sweep', '--dryrun'], /unknown option "--dryrun" for sweep: did you mean --dry-run\?/],
    [['digest', '--table-price'], /did you mean --table-prices\?/],
    [['plan', '--dry-run'], /unknown option "--dry-run" for plan \(plan does not use it\)/],
    [
      ['validate', '--region', 'us-east-1'],
      /unknown option "--region" for validate \(validate does not use it\)/,
    ],
  ])('suggests the closest command or flag for %j (exit status 2)', async (argv, message) => {
    const { code, out, err } = await run(...argv);

    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(message);
  });

  it('suggests the region that was probably meant', async () => {
    const { code, err } = await run('plan', '--region', 'eu-wset-1');

    expect(code).toBe(1);
    expect(err).toMatch(/--region: unknown region "eu-wset-1": did you mean eu-west-1\?/);
  });

  it.each([
    ['validate', ['--policy', '--json'], ['--region', '--at', '--dry-run', '--endpoint-url', '--profile']],
    ['plan', ['--region', '--at', '--json', '--snapshot'], ['--dry-run']],
    ['sweep', ['--region', '--at', '--json', '--dry-run', '--topic-arn'], []],
    ['snapshot', ['--region', '--at', '--out'], ['--json', '--dry-run']],
    ['status', ['--region', '--stage', '--json', '--policy'], ['--at', '--dry-run']],
    ['provision', ['--region', '--dry-run', '--json', '--roster'], ['--at ']],
  ])('lists in `%s --help` only the flags it takes', async (name, shown, hidden) => {
    const { code, out } = await run(name, '--help');

    expect(code).toBe(0);
    for (const flag of shown) expect(out).toContain(flag);
    for (const flag of hidden) expect(out).not.toContain(flag);
    expect(out).toContain('--verbose');
  });

  it.each([
    [['plan', '--region', 'us-eest-1'], /--region: unknown region "us-eest-1"/],
    [['plan', '--at', 'yesterday'], /--at: "yesterday" is not an ISO time; use e\.g\. 2026-11-25T14:00:00Z/],
    [['plan', '--endpoint-url', 'localhost'], /--endpoint-url: "localhost" is not a URL/],
    [
      ['sweep', '--topic-arn', 'my-topic', '--region', 'us-east-1'],
      /--topic-arn: "my-topic" is not an SNS topic ARN/,
    ],
  ])('rejects bad input before calling AWS: %j', async (argv, message) => {
    const { code, err } = await run(...argv);

    expect(code).toBe(1);
    expect(err).toMatch(message);
  });

  it('validates a good policy and prints the effective values', async () => {
    const { code, out } = await run('validate', '--policy', file('ok.yml', 'graceMinutes: 90\n'), '--json');

    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ graceMinutes: 90, idle: { cpuPercent: 5 } });
  });

  it.each([
    ['unknown key', 'idel:\n  cpuPercent: 3\n', /idel: unknown key/],
    ['wrong type', 'graceMinutes: soon\n', /graceMinutes: Invalid input: expected number, received string/],
    ['negative threshold', 'idle:\n  networkMB: -1\n', /idle\.networkMB: Too small/],
    ['unknown region', 'regions: [us-east-1, mars-north-1]\n', /regions\.1: unknown region/],
    [
      'bad action',
      'nonFreeTier:\n  action: terminate\n',
      /nonFreeTier\.action: must be one of "notify", "stop"/,
    ],
    ['YAML syntax', 'idle:\n  cpuPercent: [1\n', /not valid YAML.*\n.*line \d+, column \d+/],
  ])('refuses a policy with a %s, naming the field', async (_case, text, message) => {
    const { code, err } = await run('validate', '--policy', file('bad.yml', text));

    expect(code).toBe(1);
    expect(err).toMatch(message);
  });

  it('says which policy file is missing', async () => {
    const { code, err } = await run('validate', '--policy', '/nonexistent/watchdog.yml');

    expect(code).toBe(1);
    expect(err).toMatch(/policy file \/nonexistent\/watchdog\.yml not found/);
  });

  it('says which policy file it validated', async () => {
    const named = await run('validate', '--policy', file('mine.yml', 'graceMinutes: 30\n'));
    const here = await run('validate');

    expect(named.out).toMatch(/^\/.*mine\.yml is valid\. Effective policy:/);
    // The tests run in the project folder, which has a watchdog.yml.
    expect(here.out).toMatch(/^\.\/watchdog\.yml is valid\. Effective policy:/);
  });

  it.each([
    ['unknown region', 'regions: [us-east-1, mars-north-1]\n', 'regions.1: unknown region', '"mars-north-1"'],
    ['wrong type', 'graceMinutes: soon\n', 'graceMinutes: Invalid input', '"soon"'],
    [
      'bad action',
      'nonFreeTier:\n  action: terminate\n',
      'nonFreeTier.action: must be one of',
      '"terminate"',
    ],
    ['negative number', 'idle:\n  networkMB: -1\n', 'idle.networkMB: Too small', '-1'],
  ])('quotes the bad value of a policy with a %s', async (_case, text, field, value) => {
    const { err } = await run('validate', '--policy', file('bad.yml', text));

    const line = err.split('\n').find((l) => l.includes(field));
    expect(line).toBeDefined();
    expect(line).toContain(`got ${value}`);
  });

  it('prints an invalid policy as a JSON error with --json, and nothing on stderr', async () => {
    const { code, out, err } = await run(
      'validate',
      '--json',
      '--policy',
      file('bad.yml', 'graceMinutes: soon\n'),
    );

    expect(code).toBe(1);
    expect(err).toBe('');
    const { error } = JSON.parse(out) as { error: { type: string; message: string; issues: string[] } };
    expect(error.type).toBe('PolicyError');
    expect(error.issues).toEqual([
      'graceMinutes: Invalid input: expected number, received string; got "soon"',
    ]);
  });

  it.each([
    [['plna', '--json'], 2, 'UsageError', /did you mean "plan"/],
    [['plan', '--json', '--regoin', 'x'], 2, 'UsageError', /did you mean --region/],
    [['plan', '--json', '--region', 'us-eest-1'], 1, 'InputError', /unknown region "us-eest-1"/],
    [['plan', '--json', '--snapshot', '/nonexistent/fleet.json'], 1, 'InputError', /cannot read/],
  ])('prints errors as JSON on stdout with --json: %j', async (argv, status, type, message) => {
    const { code, out, err } = await run(...argv);

    expect(code).toBe(status);
    expect(err).toBe('');
    const { error } = JSON.parse(out) as { error: { type: string; message: string } };
    expect(error.type).toBe(type);
    expect(error.message).toMatch(message);
  });

  it('plans the classroom snapshot offline with reasons for each decision', async () => {
    const { code, out } = await run(
      'plan',
      '--snapshot',
      'examples/classroom.json',
      '--policy',
      'watchdog.yml',
    );

    expect(code).toBe(0);
    expect(out).toMatch(/i-0b0b00000000000002 +bob-forgotten +t3\.micro +us-east-1 +bob +STOP +idle/);
    expect(out).toMatch(/i-0ca401000000000003 +carol-gpu-training +g4dn\.xlarge .* WARN +idle/);
    expect(out).toMatch(/dave-thesis-run .* REPORT +idle +exempt/);
    expect(out).toMatch(/grader-runner .* REPORT +idle +auto-scaling/);
    expect(out).toContain('- no CloudWatch metrics: not judged idle');
    expect(out).toMatch(/carol-course-notebook +notebook ml\.t3\.medium +us-east-1 +carol +WARN +idle/);
    expect(out).toMatch(/erin-project-db +database db\.t3\.micro +us-east-1 +erin +WARN +idle/);
    expect(out).toContain('- idle: no connections, CPU avg 1.8% (limit 5%) over 2 h');
    expect(out).toContain('9 running in 1 region(s): 1 to stop, 3 to warn, 2 reported only, 3 fine.');
  });

  it('answers "what if" with another policy on the same snapshot', async () => {
    const strict = file('strict.yml', 'idle:\n  cpuPercent: 50\n  networkMB: 100000\n');

    const { out } = await run('plan', '--snapshot', 'examples/classroom.json', '--policy', strict, '--json');

    const report = JSON.parse(out) as { decisions: { name: string; action: string }[] };
    expect(report.decisions.find((d) => d.name === 'alice-notebook')?.action).toBe('warn');
  });

  it('evaluates a snapshot as of --at', async () => {
    const { out } = await run(
      'plan',
      '--snapshot',
      'examples/classroom.json',
      '--at',
      '2026-11-25T13:30:00Z',
      '--json',
    );

    const report = JSON.parse(out) as { at: string; decisions: { name: string; action: string }[] };
    expect(report.at).toBe('2026-11-25T13:30:00.000Z');
    expect(report.decisions.find((d) => d.name === 'bob-forgotten')?.action).toBe('warn');
  });

  it('names the problem in a broken snapshot', async () => {
    const bad = file(
      'fleet.json',
      JSON.stringify({ format: 'cost-watchdog-snapshot/1', takenAt: 'now', instances: [] }),
    );

    const { code, err } = await run('plan', '--snapshot', bad);

    expect(code).toBe(1);
    expect(err).toMatch(/fleet\.json: takenAt: /);
  });
});
