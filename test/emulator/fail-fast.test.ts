/**
 * Fail fast against a real endpoint that is not there: --endpoint-url pointing at a closed port on 127.0.0.1. Each
 * command that calls AWS says so in one line and exits 1, with nothing on stdout (no empty table, no empty snapshot,
 * no $0.00 digest); the same commands against the running emulator work.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli, policyFile } from './sweep-scenario.js';
import { endpoint, resetEmulator, seedInstances } from './support.js';

const REGION = 'us-east-1';
let closed: string;
let policy: string;

/** A port on 127.0.0.1 that was just free and is closed again: connections to it are refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  closed = `http://127.0.0.1:${await closedPort()}`;
});

beforeEach(async () => {
  await resetEmulator();
  policy = policyFile(`regions: [${REGION}]\n`);
});

describe('commands against an endpoint that refuses connections', () => {
  it.each([
    ['plan', []],
    ['sweep', []],
    ['digest', ['--table-prices']],
    ['status', []],
    ['snapshot', []],
  ])('%s says it cannot reach the endpoint, in one line, and prints nothing else', async (command, extra) => {
    // Act
    const started = Date.now();
    const res = await cli(
      command,
      '--endpoint-url',
      closed,
      '--region',
      REGION,
      '--policy',
      policy,
      ...extra,
    );

    // Assess
    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    expect(res.err).toBe(
      `error: cannot reach ${closed} (ECONNREFUSED): is the emulator running? Check --endpoint-url / AWS_ENDPOINT_URL`,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('writes no snapshot file', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cw-snap-')), 'fleet.json');

    const res = await cli(
      'snapshot',
      '--endpoint-url',
      closed,
      '--region',
      REGION,
      '--policy',
      policy,
      '--out',
      out,
    );

    expect(res.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('works against the emulator itself (the same commands, a reachable endpoint)', async () => {
    await seedInstances(REGION, { tags: { Name: 'lab' } });
    const out = join(mkdtempSync(join(tmpdir(), 'cw-snap-')), 'fleet.json');

    const plan = await cli('plan', '--endpoint-url', endpoint(), '--region', REGION, '--policy', policy);
    const snapshot = await cli(
      'snapshot',
      '--endpoint-url',
      endpoint(),
      '--region',
      REGION,
      '--policy',
      policy,
      '--out',
      out,
    );

    expect(plan.code).toBe(0);
    expect(plan.out).toContain('1 running in 1 region(s)');
    expect(snapshot.code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});
