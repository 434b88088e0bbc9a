/**
 * The serverless commands of the README work as written: only `package` and `deploy` need --param alertEmail (and
 * say so in one line when it is missing or wrong); `remove`, `info`, `logs`, `invoke` and `invoke local` resolve
 * the stack without it; `invoke local` gets an ACTIONS_URL it can use. Runs osls offline (no AWS call).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packagedTemplate } from '../support/packaged-template.js';

const ROOT = join(import.meta.dirname, '..', '..');
const params = createRequire(import.meta.url)('../../scripts/serverless-params.cjs') as {
  slsCommand(argv: string[]): string;
  alertEmail(ctx: { options: unknown; resolveVariable: (v: string) => Promise<unknown> }): Promise<string>;
  actionsUrl(): Promise<unknown>;
};

/** Runs `serverless <args>` in the project, offline, and returns its exit status and output. */
function sls(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'node_modules/serverless/bin/serverless.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
  });
}

const noParam = async () => {
  throw new Error('no params in serverless.yml');
};

describe('serverless package without a usable alert email', () => {
  it('stops with one line that names the parameter, and no stack trace', () => {
    const result = sls('package', '--package', mkdtempSync(join(tmpdir(), 'cw-sls-')));

    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(
      /^✖ Missing alert email: run it again with {2}--param alertEmail=you@example\.edu/,
    );
    expect(lines).toHaveLength(1);
    expect(result.stderr + result.stdout).not.toMatch(/ at .*\.(c?js|ts):\d+/);
  }, 120_000);

  it('quotes an address that is not an email, in one line', () => {
    const result = sls(
      'package',
      '--package',
      mkdtempSync(join(tmpdir(), 'cw-sls-')),
      '--param',
      'alertEmail=not-an-address',
    );

    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      '✖ --param alertEmail="not-an-address" is not an email address; use e.g. --param alertEmail=you@example.edu',
    ]);
  }, 120_000);
});

describe('serverless commands after deploy, without --param alertEmail', () => {
  it('resolves the whole configuration for `print` (what remove, info, logs and invoke resolve too)', () => {
    const result = sls('print', '--format', 'json');

    expect(result.status, result.stderr).toBe(0);
    const config = JSON.parse(result.stdout) as { service: string; resources: { Resources: object }[] };
    expect(config.service).toBe('cost-watchdog');
    expect(JSON.stringify(config.resources)).toContain('@example.invalid');
  }, 120_000);

  const original = process.argv;
  afterEach(() => {
    process.argv = original;
  });

  it.each([
    ['remove'],
    ['info'],
    ['logs', '-f', 'sweep'],
    ['invoke', '-f', 'provision'],
    ['invoke', 'local', '-f', 'sweep'],
    ['deploy', 'function', '-f', 'sweep'],
  ])('does not ask for the email in `serverless %s`', async (...argv) => {
    process.argv = ['node', 'serverless.js', ...argv];

    const email = await params.alertEmail({ options: {}, resolveVariable: noParam });

    expect(email).toMatch(/@example\.invalid$/);
  });

  it('keeps the address given with --param for any command', async () => {
    process.argv = ['node', 'serverless.js', 'info', '--param', 'alertEmail=me@example.edu'];

    const email = await params.alertEmail({
      options: { param: ['alertEmail=me@example.edu'] },
      resolveVariable: noParam,
    });

    expect(email).toBe('me@example.edu');
  });

  it.each([
    [['deploy', '--stage', 'prod'], 'deploy'],
    [['invoke', 'local', '-f', 'sweep'], 'invoke local'],
    [['--stage', 'prod', 'deploy'], ''],
    [['package'], 'package'],
  ])('reads the command of %j as osls does', (argv, command) => {
    expect(params.slsCommand(argv)).toBe(command);
  });

  it('gives `invoke local` an empty ACTIONS_URL (no links) instead of a GetAtt it cannot resolve', async () => {
    process.argv = ['node', 'serverless.js', 'invoke', 'local', '-f', 'sweep'];
    const local = await params.actionsUrl();
    process.argv = ['node', 'serverless.js', 'deploy'];
    const deployed = await params.actionsUrl();

    expect(local).toBe('');
    expect(deployed).toEqual({ 'Fn::GetAtt': ['ActionsLambdaFunctionUrl', 'FunctionUrl'] });
  });
});

describe('the policy hash on the functions', () => {
  it('is the SHA-256 of the packaged watchdog.yml, on every function', () => {
    const template = packagedTemplate();
    const want = createHash('sha256')
      .update(readFileSync(join(ROOT, 'watchdog.yml')))
      .digest('hex');

    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');

    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const f of functions) {
      const env = (f.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      expect(env).toBeDefined();
      expect(env?.POLICY_SHA256).toBe(want);
    }
  }, 300_000);
});
