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
  });

  it('names an unknown command and lists the real ones', async () => {
    const { code, err } = await run('stopall');

    expect(code).toBe(2);
    expect(err).toMatch(/unknown command "stopall"\. Commands: plan, sweep, validate/);
  });

  it('names an unknown flag', async () => {
    const { code, err } = await run('plan', '--terminate');

    expect(code).toBe(2);
    expect(err).toMatch(/--terminate/);
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
    expect(out).toContain('7 running in 1 region(s): 1 to stop, 1 to warn, 2 reported only, 3 fine.');
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
