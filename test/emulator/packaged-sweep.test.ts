/**
 * The sweep exactly as it ships: the deployment zip `serverless package` builds (minified, tree-shaken SDK with
 * its schemas rewritten by scripts/bundling.cjs), unzipped and run in its own Node process started with the heap
 * flags Lambda uses for the function's memory size, against moto. If the bundling dropped or broke a part of an
 * SDK client the sweep needs, this is where it shows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionMemoryMB, lambdaNodeFlags } from '../../bench/lambda-runtime.js';
import { TAGS } from '../../src/core/policy.js';
import { policyFile } from '../support/policy-file.js';
import { extractZip, packagedFunctionZip } from '../support/packaged-template.js';
import { instanceState } from './sweep-scenario.js';
import { awsEnv, createTopic, resetEmulator, seedInstances, sentMessages } from './support.js';

const run = promisify(execFile);
const REGION = 'us-east-1';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cw-packaged-sweep-'));
  extractZip(packagedFunctionZip('sweep'), dir);
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packaged sweep function', () => {
  it('warns about a non-free-tier instance against the emulator: describe, check, tag, publish, record usage', async () => {
    // Prepare: a t3.large (not free tier in moto) and a t3.micro, a policy that stops non-free-tier types
    await resetEmulator();
    const topicArn = await createTopic(REGION);
    const [large, micro] = (await seedInstances(
      REGION,
      { type: 't3.large', tags: { Owner: 'alice' } },
      { type: 't3.micro' },
    )) as [string, string];
    const policy = policyFile(
      `regions: [${REGION}]\nnonFreeTier:\n  action: stop\nidle:\n  minRunningMinutes: 0\n`,
    );
    const script =
      "(await import('./src/handlers/sweep.mjs')).handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' })" +
      '.then((r) => process.stdout.write(`\\n${JSON.stringify(r)}\\n`))';

    // Act: the bundle's own handler, real clock, Node as Lambda starts it for this function
    const { stdout } = await run(
      process.execPath,
      [
        ...lambdaNodeFlags(functionMemoryMB('.', 'sweep')),
        '--no-warnings',
        '--input-type=module',
        '-e',
        script,
      ],
      {
        cwd: dir,
        env: { ...awsEnv(REGION), PATH: process.env.PATH ?? '', TOPIC_ARN: topicArn, POLICY_FILE: policy },
      },
    );

    // Assess
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      warned: string[];
      stopped: string[];
      errors: unknown[];
      alertsSent: number;
    };
    expect(summary).toMatchObject({ warned: [large], stopped: [], errors: [], alertsSent: 2 });
    expect((await instanceState(REGION, large)).tags).toMatchObject({ [TAGS.warnRule]: 'non-free-tier' });
    expect((await instanceState(REGION, micro)).tags[TAGS.warnedAt]).toBeUndefined();
    expect((await sentMessages(topicArn)).map((m) => m.attributes)).toEqual([
      { audience: 'admin' },
      { owner: 'alice' },
    ]);
  }, 60_000);
});
