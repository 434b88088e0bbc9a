/**
 * Fail fast: without usable AWS access (no credentials, an expired session, credentials AWS rejects, a wrong clock,
 * an unreachable endpoint) every command that calls AWS prints one line with the fix and exits 1, before anything
 * else: no empty table, no empty snapshot, no $0.00 digest, no half status. And when every region fails later
 * (e.g. no ec2:DescribeInstances), the same: errors, no report.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { sdkSweepServices } from '../../src/aws/services.js';
import { classifyAccessError } from '../../src/aws/access-check.js';
import { setAwsAccessCheck } from '../../src/cli/aws-access.js';
import { setCliServices } from '../../src/cli/fleet.js';
import { main } from '../../src/cli/main.js';

const sts = mockClient(STSClient);
const ec2 = mockClient(EC2Client);
const cloudwatch = mockClient(CloudWatchClient);

const dir = mkdtempSync(join(tmpdir(), 'cw-fail-fast-'));
const policy = join(dir, 'watchdog.yml');
writeFileSync(policy, 'regions: [us-east-1]\n');

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const failure = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, ...extra });

beforeEach(() => {
  sts.reset();
  ec2.reset();
  cloudwatch.reset();
  setCliServices(sdkSweepServices);
  setAwsAccessCheck('sts');
});

describe('a command without usable AWS access', () => {
  it.each([
    [
      'no credentials',
      failure('CredentialsProviderError', 'Could not load credentials from any providers'),
      'error: no AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile NAME',
    ],
    [
      'an expired SSO session',
      failure(
        'CredentialsProviderError',
        'The SSO session associated with this profile has expired or is otherwise invalid. To refresh this SSO session run aws sso login with the corresponding profile.',
      ),
      'error: your AWS SSO session has expired: run `aws sso login` (with --profile NAME if you use one), then try again',
    ],
    [
      'an expired session token',
      failure('ExpiredToken', 'The security token included in the request is expired'),
      'error: your AWS session has expired: get new credentials (`aws sso login`, or a new session token) and try again',
    ],
    [
      'credentials AWS rejects (or a region not enabled)',
      failure('InvalidClientTokenId', 'The security token included in the request is invalid.'),
      /^error: AWS does not accept these credentials in us-east-1 \(InvalidClientTokenId\): check the access key .*enable the region/,
    ],
    [
      'a wrong clock',
      failure(
        'SignatureDoesNotMatch',
        'Signature expired: 20261129T100000Z is now earlier than 20261129T101500Z',
      ),
      /^error: AWS refused the request as too old or too new: set this computer's clock right/,
    ],
    [
      'an unreachable endpoint',
      failure('Error', 'connect ECONNREFUSED 127.0.0.1:4566', { code: 'ECONNREFUSED' }),
      /^error: cannot reach http:\/\/127\.0\.0\.1:4566 \(ECONNREFUSED\): is the emulator running\?/,
    ],
  ])('plan with %s prints one line with the fix and nothing else', async (_case, error, line) => {
    // Prepare
    sts.on(GetCallerIdentityCommand).rejects(error);

    // Act
    const { code, out, err } = await run(
      'plan',
      '--policy',
      policy,
      '--region',
      'us-east-1',
      '--endpoint-url',
      'http://127.0.0.1:4566',
    );

    // Assess
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err.split('\n')).toHaveLength(1);
    if (typeof line === 'string') expect(err).toBe(line);
    else expect(err).toMatch(line);
    expect(ec2).not.toHaveReceivedAnyCommand();
  });

  it('writes no snapshot, prints no digest and no status, and changes nothing', async () => {
    // Prepare
    sts.on(GetCallerIdentityCommand).rejects(failure('ExpiredTokenException', 'token expired'));
    const snapshot = join(dir, 'fleet.json');

    // Act
    const results = [
      await run('snapshot', '--policy', policy, '--out', snapshot),
      await run('snapshot', '--policy', policy),
      await run('digest', '--policy', policy, '--table-prices'),
      await run('sweep', '--policy', policy),
      await run('status'),
    ];

    // Assess
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^error: your AWS session has expired/);
    }
    expect(existsSync(snapshot)).toBe(false);
    expect(ec2).not.toHaveReceivedAnyCommand();
  });

  it('says it as JSON with --json', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(failure('CredentialsProviderError', 'Could not load credentials'));

    const { code, out, err } = await run('plan', '--policy', policy, '--json');

    expect(code).toBe(1);
    expect(err).toBe('');
    expect(JSON.parse(out)).toEqual({
      error: {
        type: 'AwsAccessError',
        problem: 'no-credentials',
        message:
          'no AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile NAME',
      },
    });
  });

  it('needs no AWS for what runs offline (plan --snapshot, validate)', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(failure('CredentialsProviderError', 'Could not load credentials'));

    const plan = await run('plan', '--snapshot', 'examples/classroom.json');
    const validate = await run('validate', '--policy', policy);

    expect(plan.code).toBe(0);
    expect(validate.code).toBe(0);
    expect(sts).not.toHaveReceivedAnyCommand();
  });
});

describe('a command whose every region fails after the credentials check', () => {
  beforeEach(() => {
    sts
      .on(GetCallerIdentityCommand)
      .resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/me' });
    ec2
      .on(DescribeInstancesCommand)
      .rejects(failure('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
  });

  it('plan prints the errors, and no table or "No running instances"', async () => {
    const { code, out, err } = await run('plan', '--policy', policy);

    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain('Plan failed: no region could be read; nothing was changed.');
    expect(err).toContain('UnauthorizedOperation');
  });

  it('snapshot writes nothing', async () => {
    const snapshot = join(dir, 'partial.json');

    const { code, out, err } = await run('snapshot', '--policy', policy, '--out', snapshot);

    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^snapshot not written: 1 of 1 region\(s\) could not be read/);
    expect(existsSync(snapshot)).toBe(false);
  });

  it('digest --json prints an error, not a digest of nothing', async () => {
    const { code, out } = await run('digest', '--policy', policy, '--table-prices', '--json');

    expect(code).toBe(1);
    const { error } = JSON.parse(out) as { error: { type: string; errors: { operation: string }[] } };
    expect(error.type).toBe('DigestError');
    expect(error.errors.map((e) => e.operation)).toContain('ec2:DescribeInstances');
  });

  it('digest prints no $0.00 report', async () => {
    const { code, out, err } = await run('digest', '--policy', policy, '--table-prices');

    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^digest failed: no region could be read; no report\./);
  });
});

describe('classifyAccessError', () => {
  it('leaves errors that are not about access alone', () => {
    expect(
      classifyAccessError(failure('ThrottlingException', 'Rate exceeded'), { region: 'us-east-1' }),
    ).toBe(undefined);
    expect(classifyAccessError(failure('AccessDenied', 'not allowed'), { region: 'us-east-1' })).toBe(
      undefined,
    );
  });

  it('names the profile that gave no credentials', () => {
    process.env.AWS_PROFILE = 'clas';
    try {
      const e = classifyAccessError(
        failure('CredentialsProviderError', 'Could not load credentials from any providers'),
        {
          region: 'us-east-1',
        },
      );

      expect(e?.message).toBe(
        'no AWS credentials for the profile "clas": check its name (aws configure list-profiles), or run `aws sso login --profile clas`',
      );
    } finally {
      delete process.env.AWS_PROFILE;
    }
  });

  it('says a profile that does not exist', () => {
    const e = classifyAccessError(
      failure(
        'CredentialsProviderError',
        'Profile clas could not be found or parsed in shared credentials file.',
      ),
      { region: 'us-east-1' },
    );

    expect(e?.message).toMatch(/^Profile clas could not be found .*: check --profile \/ AWS_PROFILE/);
  });
});
