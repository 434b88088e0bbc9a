/**
 * The student handouts of a roster run against the emulator: one file per student (mode 0600) next to the results
 * CSV, the account's console sign-in URL (alias, else account id) when students have a console password, and
 * only names of resources that exist.
 */
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeLaunchTemplatesCommand } from '@aws-sdk/client-ec2';
import { CreateAccountAliasCommand } from '@aws-sdk/client-iam';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { clients, createTopic, DEFAULT_REGION, EMULATOR_ACCOUNT, resetEmulator } from './support.js';

const REGION = DEFAULT_REGION;
const POLICY = 'regions: [us-east-1]\n';

let topicArn: string;

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => out.push(t),
    err: (t: string) => err.push(t),
    env: { ...process.env, AWS_REGION: REGION },
  };
  return { io, out, err };
}

function classFolder(): { dir: string; roster: string; policy: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cost-watchdog-handout-'));
  const roster = join(dir, 'class.csv');
  writeFileSync(roster, 'alice,alice@example.edu,203.0.113.7/32\nbob,bob@example.edu,198.51.100.0/24\n');
  const policy = join(dir, 'watchdog.yml');
  writeFileSync(policy, POLICY);
  return { dir, roster, policy };
}

beforeEach(async () => {
  await resetEmulator();
  topicArn = await createTopic(REGION);
});

describe('provision --roster: the student handouts', () => {
  it('writes one 0600 file per student next to the results, with the sign-in URL and only names that exist', async () => {
    // Prepare
    const { dir, roster, policy } = classFolder();
    const run = cli();

    // Act
    const code = await main(
      [
        'provision',
        '--roster',
        roster,
        '--console-login',
        '--key-dir',
        join(dir, 'keys'),
        '--topic-arn',
        topicArn,
        '--policy',
        policy,
      ],
      run.io,
    );

    // Assess
    expect(code).toBe(0);
    const handouts = join(dir, 'class-handouts');
    expect(readdirSync(handouts).sort()).toEqual(['alice.txt', 'bob.txt']);
    const url = `https://${EMULATOR_ACCOUNT}.signin.aws.amazon.com/console`;
    expect(run.out).toContain(`Console sign-in for the students: ${url}`);
    for (const user of ['alice', 'bob']) {
      const file = join(handouts, `${user}.txt`);
      expect(lstatSync(file).mode & 0o777).toBe(0o600);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(`sign in at ${url} as IAM user ${user}`);
      // Everything the handout names is there: the template, the key and the password parameter.
      const { ec2, ssm } = clients(REGION);
      const template = /select (cost-watchdog-\S+),/.exec(text)?.[1];
      expect(template).toBe(`cost-watchdog-${user}`);
      const found = await ec2.send(
        new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [template ?? ''] }),
      );
      expect(found.LaunchTemplates).toHaveLength(1);
      for (const name of text.match(/\/cost-watchdog\/(?:keys|passwords)\/[\w.-]+/g) ?? []) {
        await expect(ssm.send(new GetParameterCommand({ Name: name }))).resolves.toBeDefined();
      }
      // Never a secret: the password itself is not in the handout.
      const password = await ssm.send(
        new GetParameterCommand({ Name: `/cost-watchdog/passwords/${user}`, WithDecryption: true }),
      );
      expect(text).not.toContain(password.Parameter?.Value);
    }
    expect(run.err).toContain(
      `handouts in ${handouts}: 2 written, 0 unchanged (one file per user, mode 0600)`,
    );

    // Again: moto confirms email subscriptions at once, so the handouts drop the "confirm" line once; after that
    // the same handouts are left as they are.
    expect(readFileSync(join(handouts, 'alice.txt'), 'utf8')).toContain('click "Confirm subscription"');
    const rerun = async () => {
      const again = cli();
      await main(['provision', '--roster', roster, '--topic-arn', topicArn, '--policy', policy], again.io);
      return again.err;
    };
    expect(await rerun()).toContain(
      `handouts in ${handouts}: 2 written, 0 unchanged (one file per user, mode 0600)`,
    );
    const confirmed = readFileSync(join(handouts, 'alice.txt'), 'utf8');
    expect(confirmed).not.toContain('Confirm subscription');
    expect(confirmed).toContain(`sign in at ${url} as IAM user alice`);
    expect(await rerun()).toContain(
      `handouts in ${handouts}: 0 written, 2 unchanged (one file per user, mode 0600)`,
    );
  });

  it('uses the account alias in the sign-in URL when the account has one', async () => {
    // Prepare
    await clients(REGION).iam.send(new CreateAccountAliasCommand({ AccountAlias: 'data-science-101' }));
    const { dir, roster, policy } = classFolder();
    const handouts = join(dir, 'sheets');

    // Act
    await main(
      [
        'provision',
        '--roster',
        roster,
        '--console-login',
        '--handout-dir',
        handouts,
        '--key-dir',
        join(dir, 'k'),
        '--policy',
        policy,
      ],
      cli().io,
    );

    // Assess
    expect(readFileSync(join(handouts, 'alice.txt'), 'utf8')).toContain(
      'sign in at https://data-science-101.signin.aws.amazon.com/console as IAM user alice',
    );
  });

  it('replaces a symbolic link planted at a handout path instead of writing through it', async () => {
    // Prepare
    const { dir, roster, policy } = classFolder();
    const handouts = join(dir, 'class-handouts');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'do not touch\n');
    await main(['provision', '--roster', roster, '--policy', policy], cli().io);
    const link = join(handouts, 'alice.txt');
    rmSync(link);
    symlinkSync(victim, link);

    // Act
    await main(['provision', '--roster', roster, '--console-login', '--policy', policy], cli().io);

    // Assess
    expect(readFileSync(victim, 'utf8')).toBe('do not touch\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(link, 'utf8')).toContain('AWS handout for alice');
  });
});

describe('provision --user: the handout on the terminal', () => {
  it('prints the handout that matches what the student has: an access key, so the command line', async () => {
    // Prepare
    const { policy } = classFolder();
    const run = cli();

    // Act
    const code = await main(
      [
        'provision',
        '--user',
        'carol',
        '--email',
        'carol@example.edu',
        '--cidr',
        '203.0.113.9/32',
        '--access-key',
        '--policy',
        policy,
      ],
      run.io,
    );

    // Assess
    expect(code).toBe(0);
    const text = run.out.join('\n');
    expect(text).toContain('AWS handout for carol');
    expect(text).toContain('Command line: your instructor gives you an access key');
    expect(text).toContain('/cost-watchdog/access-keys/carol, which only your instructor can read');
    expect(text).not.toContain('Console: sign in');
    expect(text).toContain('Your instructor gets the warning (no email subscription was set up for you).');
  });
});
