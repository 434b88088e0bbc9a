/**
 * The built CLI as a user runs it (scripts/build-cli.cjs, built here into a temporary folder so that nothing else
 * sees a half-written dist/): --help is fast, --json errors are JSON on stdout, validate says where its policy came
 * from, and a failing AWS command prints its one line without the SDK's Node.js version warning.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
let main: string;

/** Runs the built CLI with a clean environment (dummy credentials, no profiles); its status, stdout, stderr, time. */
async function cli(
  argv: string[],
  cwd = ROOT,
): Promise<{ code: number; out: string; err: string; ms: number }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AWS_ACCESS_KEY_ID: 'unit-test',
    AWS_SECRET_ACCESS_KEY: 'unit-test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/cw/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/cw/credentials',
  };
  const started = process.hrtime.bigint();
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...argv], { cwd, env });
    return { code: 0, out: stdout, err: stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof x.code === 'number' ? x.code : -1,
      out: x.stdout ?? '',
      err: x.stderr ?? '',
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    };
  }
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-cli-build-'));
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.cjs'), dir], { stdio: 'pipe' });
  main = join(dir, 'main.mjs');
}, 120_000);

describe('the built cost-watchdog CLI', () => {
  it.each([[['--help']], [['plan', '--help']], [['status', '--help']]])(
    'answers %j in under half a second (best of three)',
    async (argv) => {
      const runs = [await cli(argv), await cli(argv), await cli(argv)];

      expect(runs.every((r) => r.code === 0)).toBe(true);
      expect(runs[0]?.out).toMatch(/^cost-watchdog/);
      expect(Math.min(...runs.map((r) => r.ms))).toBeLessThan(500);
    },
    30_000,
  );

  it('prints a usage error as JSON on stdout with --json (exit status 2)', async () => {
    const res = await cli(['plna', '--json']);

    expect(res.code).toBe(2);
    expect(res.err).toBe('');
    expect(JSON.parse(res.out)).toEqual({
      error: {
        type: 'UsageError',
        message:
          'unknown command "plna": did you mean "plan"? Commands: plan, sweep, validate, snapshot, digest, status, provision, deprovision. See cost-watchdog --help.',
      },
    });
  });

  it('says when there is no watchdog.yml to validate', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'cw-empty-'));

    const res = await cli(['validate'], empty);

    expect(res.code).toBe(0);
    expect(res.out).toMatch(
      /^No watchdog\.yml here \(.*cw-empty-.*\): nothing to check\. The built-in defaults apply/,
    );
  });

  it('prints an invalid policy as a JSON error with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-bad-'));
    writeFileSync(join(dir, 'watchdog.yml'), 'regions: [mars-north-1]\n');

    const res = await cli(['validate', '--json'], dir);

    expect(res.code).toBe(1);
    expect(JSON.parse(res.out)).toMatchObject({
      error: {
        type: 'PolicyError',
        issues: [expect.stringMatching(/^regions\.0: unknown region .*; got "mars-north-1"$/)],
      },
    });
  });

  it('fails in one line, with no SDK Node.js version warning, when AWS cannot be reached', async () => {
    const res = await cli(['plan', '--endpoint-url', 'http://127.0.0.1:9', '--region', 'us-east-1']);

    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    expect(res.err).toBe(
      'error: cannot reach http://127.0.0.1:9 (ECONNREFUSED): is the emulator running? Check --endpoint-url / AWS_ENDPOINT_URL\n',
    );
    expect(res.err).not.toContain('NodeVersionSupportWarning');
  });
});
