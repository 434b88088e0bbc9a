import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * Base URLs of the moto servers, one per vitest worker (e.g. http://127.0.0.1:41234): the files of one worker
     * share its server and run one after the other, so the emulator files run beside each other and the unit files.
     */
    emulatorEndpoints: string[];
  }
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MOTO_SERVER = join(ROOT, '.venv', 'bin', 'moto_server');
const LOG_DIR = join(ROOT, '.emulator');
const LOG_FILE = join(LOG_DIR, 'moto-test.log');
const START_TIMEOUT_MS = 30_000;

const INSTALL_HINT = [
  'The emulator tests need python3 (3.9+, with venv) to run moto server from a project-local .venv.',
  'Install it, then run `npm run emulator:setup` (or just `npm test` again):',
  '  Debian/Ubuntu: sudo apt-get install python3 python3-venv',
  '  Fedora/RHEL:   sudo dnf install python3',
  '  macOS:         brew install python@3.12, or the installer from https://www.python.org/downloads/',
  '  Windows:       https://www.python.org/downloads/ and run the tests from WSL or Git Bash',
].join('\n');

/**
 * `bash scripts/emulator.sh setup`: creates .venv / installs the pinned moto when missing or outdated (first run:
 * about 15 s with uv, 20-70 s with pip). What it does is shown as it happens; a run with the venv in place prints
 * nothing.
 */
async function setupVenv(): Promise<void> {
  const started = Date.now();
  const child = spawn('bash', [join(ROOT, 'scripts', 'emulator.sh'), 'setup'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const show = (chunk: Buffer) => {
    output += chunk.toString();
    process.stderr.write(chunk);
  };
  child.stdout?.on('data', show);
  child.stderr?.on('data', show);
  const result = await new Promise<{ status: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ status: null, error }));
    child.on('close', (status) => resolve({ status }));
  });
  if (result.error || result.status !== 0 || !existsSync(MOTO_SERVER)) {
    const cause = result.error ? result.error.message : `exit code ${result.status}`;
    throw new Error(
      `Cannot set up the AWS emulator (moto server): scripts/emulator.sh setup failed (${cause}).\n` +
        // emulator.sh prints its own install hint when python3 is missing; do not repeat it
        (output.includes('apt-get install')
          ? output.trim()
          : `${output.trim() ? `${output.trim()}\n` : ''}${INSTALL_HINT}`),
    );
  }
  if (output !== '') {
    process.stderr.write(`emulator: .venv ready after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the server answers POST /moto-api/reset; false if the process died or the time ran out. */
async function waitUntilReady(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetch(`${url}/moto-api/reset`, {
        method: 'POST',
        signal: AbortSignal.timeout(2_000),
      });
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return false;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts moto_server on a free port; retries when another process grabbed the port in between. */
async function startMoto(n: number): Promise<{ url: string; child: ChildProcess }> {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = LOG_FILE.replace(/\.log$/, `-${n}.log`);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const log = openSync(logFile, 'w');
    const child = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], {
      cwd: ROOT,
      stdio: ['ignore', log, log],
      // moto itself needs no AWS credentials; never hand it real ones.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LANG: 'C.UTF-8' },
    });
    closeSync(log);
    child.on('error', () => {
      // reported through exitCode / the readiness check below
    });
    if (await waitUntilReady(url, child)) return { url, child };
    await stop(child);
    if (attempt === 3) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(
        `moto_server did not answer at ${url} within ${START_TIMEOUT_MS / 1000} s (log ${logFile}):\n${tail}`,
      );
    }
  }
  throw new Error('unreachable');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await setupVenv();
  // One server per worker that may run an emulator file (VITEST_POOL_ID is 1..maxWorkers).
  const workers = Math.max(1, project.config.maxWorkers ?? project.vitest.config.maxWorkers ?? 1);
  const servers = await Promise.all(Array.from({ length: workers }, (_, k) => startMoto(k + 1)));
  project.provide(
    'emulatorEndpoints',
    servers.map((s) => s.url),
  );
  return async () => {
    await Promise.all(servers.map((s) => stop(s.child)));
  };
}
