import { GetGroupCommand, IAMClient } from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { PROVISIONED_USERS_TTL_MS, ProvisionedUsers } from '../../src/aws/provisioned-users.js';

const iam = mockClient(IAMClient);
const user = (UserName: string) => ({
  UserName,
  UserId: `AIDA${UserName}`,
  Arn: `arn:aws:iam::123456789012:user/cost-watchdog/${UserName}`,
  Path: '/cost-watchdog/',
  CreateDate: new Date(0),
});
const group = {
  GroupName: 'cost-watchdog-users',
  GroupId: 'AGPA1',
  Arn: 'arn',
  Path: '/cost-watchdog/',
  CreateDate: new Date(0),
};

describe('the provisioned users (members of cost-watchdog-users)', () => {
  let now: Date;
  const users = () => new ProvisionedUsers(new IAMClient({ region: 'us-east-1' }), () => now);

  beforeEach(() => {
    iam.reset();
    now = new Date('2026-11-25T14:00:00Z');
  });

  it('reads every page of the group', async () => {
    iam
      .on(GetGroupCommand, { GroupName: 'cost-watchdog-users' })
      .resolvesOnce({ Group: group, Users: [user('alice')], IsTruncated: true, Marker: 'm1' })
      .resolvesOnce({ Group: group, Users: [user('bob')], IsTruncated: false });

    const list = await users().list();

    expect(list.names).toEqual(new Set(['alice', 'bob']));
    expect(iam).toHaveReceivedCommandWith(GetGroupCommand, {
      GroupName: 'cost-watchdog-users',
      Marker: 'm1',
    });
  });

  it('knows nobody was provisioned when the group does not exist', async () => {
    iam.on(GetGroupCommand).rejects(Object.assign(new Error('no group'), { name: 'NoSuchEntity' }));

    expect((await users().list()).names).toEqual(new Set());
  });

  it('says "unknown" with the reason when IAM denies the call (lab accounts), and never throws', async () => {
    iam.on(GetGroupCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));

    expect(await users().list()).toEqual({ names: null, why: 'AccessDenied: not authorized' });
  });

  it('asks IAM once per five minutes in a warm container', async () => {
    iam.on(GetGroupCommand).resolves({ Group: group, Users: [user('alice')] });
    const store = users();

    await store.list();
    now = new Date(now.getTime() + PROVISIONED_USERS_TTL_MS - 1);
    await store.list();
    now = new Date(now.getTime() + 1);
    await store.list();

    expect(iam.commandCalls(GetGroupCommand)).toHaveLength(2);
  });
});
