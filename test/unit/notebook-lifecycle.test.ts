/**
 * The lifecycle configuration cost-watchdog offers for SageMaker notebook instances (provision/notebook/on-start.sh):
 * shellcheck-clean, no secrets, and its activity job writes the right tag: run here against a stand-in Jupyter
 * server on 127.0.0.1 and a stand-in `aws` command that records what it was asked to do.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAGS } from '../../src/core/policy.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'provision', 'notebook', 'on-start.sh');
const SHELLCHECK = join(ROOT, '.venv', 'bin', 'shellcheck');
const script = readFileSync(SCRIPT, 'utf8');
/** The activity job the on-start script installs (its quoted heredoc). */
const runner = /<<'RUNNER'\n([\s\S]*?)\nRUNNER\n/.exec(script)?.[1] ?? '';

function shellcheck(path: string): string {
  if (!existsSync(SHELLCHECK)) {
    spawnSync('bash', [join(ROOT, 'scripts', 'emulator.sh'), 'setup'], { cwd: ROOT, stdio: 'ignore' });
  }
  const res = spawnSync(SHELLCHECK, ['--shell=bash', '--severity=style', '--format=gcc', path], {
    encoding: 'utf8',
  });
  return `${res.stdout}${res.stderr}`;
}

describe('the notebook lifecycle configuration', () => {
  it('is shellcheck-clean at every severity, and so is the activity job it installs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-lifecycle-'));
    writeFileSync(join(dir, 'runner.sh'), runner);

    expect(shellcheck(SCRIPT)).toBe('');
    expect(runner).toMatch(/^#!\/bin\/bash\n/);
    expect(shellcheck(join(dir, 'runner.sh'))).toBe('');
  });

  it('writes only its own tag key, on its own notebook, every 5 minutes, and holds no secret', () => {
    expect(script).toContain(`readonly TAG_KEY=${TAGS.lastActivity}`);
    expect(script).toContain('/opt/ml/metadata/resource-metadata.json');
    expect(script).toMatch(/printf '\*\/5 \* \* \* \* root %s/);
    expect(script).toContain('https://localhost:8443');
    expect(script).not.toMatch(/AKIA[0-9A-Z]{16}|aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY/i);
    expect(runner.match(/sagemaker [a-z-]+/g)).toEqual(['sagemaker add-tags']);
  });
});

describe('the activity job', () => {
  let server: Server;
  let sessions: unknown[] = [];
  let terminals: unknown[] = [];
  let dir: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify(
          req.url === '/api/sessions' ? sessions : req.url === '/api/terminals' ? terminals : [],
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = mkdtempSync(join(tmpdir(), 'cw-activity-'));
    writeFileSync(join(dir, 'runner.sh'), runner);
    // A stand-in for the AWS CLI: records its arguments, one call per line.
    writeFileSync(join(dir, 'aws'), `#!/bin/bash\nprintf '%s\\n' "$*" >>"${join(dir, 'aws-calls')}"\n`);
    chmodSync(join(dir, 'aws'), 0o755);
    const port = (server.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'activity.env'),
      [
        'ARN=arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/course-nb',
        'REGION=eu-west-1',
        `AWS_BIN=${join(dir, 'aws')}`,
        'PYTHON_BIN=python3',
        `TAG_KEY=${TAGS.lastActivity}`,
        `STATE=${join(dir, 'state')}`,
        `JUPYTER=http://127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
  });

  afterAll(() => {
    server.close();
  });

  // Asynchronous, so that the stand-in Jupyter server in this process can answer the job.
  const run = (...args: string[]) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(
        'bash',
        [join(dir, 'runner.sh'), ...args],
        { encoding: 'utf8', env: { ...process.env, COST_WATCHDOG_ACTIVITY_ENV: join(dir, 'activity.env') } },
        (err, _stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
  const calls = () =>
    existsSync(join(dir, 'aws-calls')) ? readFileSync(join(dir, 'aws-calls'), 'utf8').trim().split('\n') : [];

  it('tags the latest kernel or terminal activity, once per new activity, and a busy kernel as now', async () => {
    // Act 1: an idle kernel last active at 10:00, a terminal at 10:20
    sessions = [{ kernel: { execution_state: 'idle', last_activity: '2026-11-25T10:00:00.000000Z' } }];
    terminals = [{ name: '1', last_activity: '2026-11-25T10:20:00.000000Z' }];
    const first = await run();

    // Act 2: nothing new: no call
    const second = await run();

    // Act 3: a busy kernel
    sessions = [{ kernel: { execution_state: 'busy', last_activity: '2026-11-25T10:00:00Z' } }];
    const third = await run();

    // Assess
    for (const r of [first, second, third]) expect(r.status, r.stderr).toBe(0);
    const made = calls();
    expect(made).toHaveLength(2);
    expect(made[0]).toBe(
      `sagemaker add-tags --region eu-west-1 --resource-arn arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/course-nb --tags Key=${TAGS.lastActivity},Value=2026-11-25T10:20:00Z`,
    );
    const now = Date.now();
    const busyAt = Date.parse(/Value=(.*)$/.exec(made[1] ?? '')?.[1] ?? '');
    expect(Math.abs(busyAt - now)).toBeLessThan(60_000);
  });

  it('writes nothing when no kernel or terminal ever ran (the start time stays the last activity)', async () => {
    sessions = [];
    terminals = [];
    const before = calls().length;

    const r = await run();

    expect(r.status, r.stderr).toBe(0);
    expect(calls()).toHaveLength(before);
  });
});
