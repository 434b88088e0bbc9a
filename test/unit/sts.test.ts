import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemberCredentials, memberRoleArn, partitionOf } from '../../src/aws/sts.js';

const sts = mockClient(STSClient);
const START = new Date('2026-11-25T14:00:00Z');
const HOUR = 3_600_000;

function issueCredentials() {
  let n = 0;
  sts.on(AssumeRoleCommand).callsFake(() => {
    n++;
    return {
      Credentials: {
        AccessKeyId: `AKIA${n}`,
        SecretAccessKey: 'secret',
        SessionToken: `token${n}`,
        Expiration: new Date(START.getTime() + n * HOUR),
      },
    };
  });
}

describe('MemberCredentials', () => {
  let now: Date;
  const make = () => new MemberCredentials(new STSClient({ region: 'us-east-1' }), 'us-east-1', () => now);

  beforeEach(() => {
    sts.reset();
    now = START;
  });

  it('assumes a role once per account and serves every later call from the cache', async () => {
    // Prepare
    issueCredentials();
    const creds = make();

    // Act
    const [a, b] = await Promise.all([
      creds.forAccount('111111111111', 'r'),
      creds.forAccount('111111111111', 'r'),
    ]);
    const c = await creds.provider('111111111111', 'r')();
    await creds.forAccount('222222222222', 'r');

    // Assess
    expect([a.accessKeyId, b.accessKeyId, c.accessKeyId]).toEqual(['AKIA1', 'AKIA1', 'AKIA1']);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });

  it('renews credentials that expire within five minutes', async () => {
    // Prepare
    issueCredentials();
    const creds = make();
    await creds.forAccount('111111111111', 'r');
    now = new Date(START.getTime() + HOUR - 4 * 60_000);

    // Act
    const renewed = await creds.forAccount('111111111111', 'r');

    // Assess
    expect(renewed).toMatchObject({
      accessKeyId: 'AKIA2',
      sessionToken: 'token2',
      accountId: '111111111111',
    });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });

  it('does not cache a failed AssumeRole, so the next call tries again', async () => {
    // Prepare
    sts
      .on(AssumeRoleCommand)
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'Throttling' }))
      .resolves({
        Credentials: {
          AccessKeyId: 'AKIA',
          SecretAccessKey: 's',
          SessionToken: 't',
          Expiration: new Date(START.getTime() + HOUR),
        },
      });
    const creds = make();

    // Act
    const first = creds.forAccount('111111111111', 'r');
    await expect(first).rejects.toThrow('throttled');
    const second = await creds.forAccount('111111111111', 'r');

    // Assess
    expect(second.accessKeyId).toBe('AKIA');
  });

  it('uses the session name cost-watchdog and the role under the /cost-watchdog/ path', async () => {
    // Prepare
    issueCredentials();

    // Act
    await make().forAccount('111111111111', 'cost-watchdog-member');

    // Assess
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: 'arn:aws:iam::111111111111:role/cost-watchdog/cost-watchdog-member',
      RoleSessionName: 'cost-watchdog',
    });
  });
});

describe('memberRoleArn', () => {
  it.each([
    ['us-east-1', 'aws'],
    ['eu-west-1', 'aws'],
    ['cn-north-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
  ])('builds the role ARN in the partition of %s (%s)', (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
    expect(memberRoleArn('111111111111', 'm', region)).toBe(
      `arn:${partition}:iam::111111111111:role/cost-watchdog/m`,
    );
  });
});
