import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_FILE_MODE, writePrivateKeyFile } from '../../src/cli/key-file.js';
import { main } from '../../src/cli/main.js';
import { setProvisionServices } from '../../src/cli/provision.js';
import { sdkProvisionServices } from '../../src/jobs/provisioning/services.js';
import { policyFile } from '../support/policy-file.js';

const KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';
const dir = () => mkdtempSync(join(tmpdir(), 'cw-keys-'));

describe('writing a private key file', () => {
  it('creates a new file with mode 0600 holding the key', () => {
    // Prepare
    const path = join(dir(), 'alice.pem');

    // Act
    writePrivateKeyFile(path, KEY, '--key-file');

    // Assess
    expect(statSync(path).mode & 0o777).toBe(KEY_FILE_MODE);
    expect(KEY_FILE_MODE).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(`${KEY}\n`);
  });

  it('refuses an existing file, names it and the fix, and leaves it as it was', () => {
    // Prepare
    const path = join(dir(), 'alice.pem');
    writeFileSync(path, 'my other key', { mode: 0o644 });

    // Act / Assess
    expect(() => writePrivateKeyFile(path, KEY, '--key-file')).toThrow(
      `--key-file: "${path}" already exists; a private key is only ever written to a new file, never over or through an existing one. Move or delete it, or give a path that does not exist yet`,
    );
    expect(readFileSync(path, 'utf8')).toBe('my other key');
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('refuses a symbolic link to an existing file and writes nothing through it', () => {
    // Prepare
    const d = dir();
    const target = join(d, 'authorized_keys');
    writeFileSync(target, 'ssh-ed25519 AAAA victim\n');
    const link = join(d, 'alice.pem');
    symlinkSync(target, link);

    // Act / Assess
    expect(() => writePrivateKeyFile(link, KEY, '--key-dir')).toThrow(
      new RegExp(`^--key-dir: "${link}" is a symbolic link; .*Move or delete it`),
    );
    expect(readFileSync(target, 'utf8')).toBe('ssh-ed25519 AAAA victim\n');
  });

  it('refuses a symbolic link that points nowhere, and creates nothing at its target', () => {
    // Prepare
    const d = dir();
    const target = join(d, 'planted.pem');
    const link = join(d, 'alice.pem');
    symlinkSync(target, link);

    // Act / Assess
    expect(() => writePrivateKeyFile(link, KEY, '--key-file')).toThrow(/is a symbolic link/);
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe('provision --key-file / --key-dir', () => {
  let factoryCalls = 0;
  afterEach(() => setProvisionServices(sdkProvisionServices));

  async function provision(...flags: string[]) {
    factoryCalls = 0;
    setProvisionServices(() => {
      factoryCalls++;
      throw new Error('no AWS in this test');
    });
    const err: string[] = [];
    const code = await main(
      ['provision', '--region', 'us-east-1', '--policy', policyFile('regions: [us-east-1]\n'), ...flags],
      { out: () => {}, err: (t) => err.push(t), env: {} },
    );
    return { code, err: err.join('\n') };
  }

  it('refuses an existing --key-file before anything is provisioned', async () => {
    // Prepare
    const path = join(dir(), 'alice.pem');
    writeFileSync(path, 'old');

    // Act
    const { code, err } = await provision(
      '--user',
      'alice',
      '--email',
      'alice@example.edu',
      '--cidr',
      '203.0.113.7/32',
      '--key-file',
      path,
    );

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`--key-file: "${path}" already exists`);
    expect(factoryCalls).toBe(0);
  });

  it('refuses a roster run whose --key-dir already holds a link for one of the users', async () => {
    // Prepare
    const d = dir();
    const roster = join(d, 'class.csv');
    writeFileSync(roster, 'alice,alice@example.edu,203.0.113.7/32\nbob,bob@example.edu,203.0.113.8/32\n');
    symlinkSync(join(d, 'elsewhere'), join(d, 'cost-watchdog-bob.pem'));

    // Act
    const { code, err } = await provision('--roster', roster, '--key-dir', d);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`--key-dir: "${join(d, 'cost-watchdog-bob.pem')}" is a symbolic link`);
    expect(factoryCalls).toBe(0);
  });
});
