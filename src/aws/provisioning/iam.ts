import {
  AddUserToGroupCommand,
  AttachGroupPolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeletePolicyVersionCommand,
  DeleteUserCommand,
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  type IAMClient,
  ListAccessKeysCommand,
  ListAttachedGroupPoliciesCommand,
  ListGroupsForUserCommand,
  ListPolicyVersionsCommand,
  PutGroupPolicyCommand,
  RemoveUserFromGroupCommand,
} from '@aws-sdk/client-iam';
import type { PolicyDocument } from '../../core/provisioning/guardrail.js';

/** IAM actions this adapter uses; the provision role grants them on `/cost-watchdog/` paths only. */
export const IAM_PROVISION_PERMISSIONS = [
  'iam:GetGroup',
  'iam:CreateGroup',
  'iam:GetGroupPolicy',
  'iam:PutGroupPolicy',
  'iam:ListAttachedGroupPolicies',
  'iam:AttachGroupPolicy',
  'iam:GetPolicy',
  'iam:CreatePolicy',
  'iam:GetPolicyVersion',
  'iam:ListPolicyVersions',
  'iam:CreatePolicyVersion',
  'iam:DeletePolicyVersion',
  'iam:GetUser',
  'iam:CreateUser',
  'iam:DeleteUser',
  'iam:AddUserToGroup',
  'iam:RemoveUserFromGroup',
  'iam:ListGroupsForUser',
  'iam:GetLoginProfile',
  'iam:CreateLoginProfile',
  'iam:DeleteLoginProfile',
  'iam:ListAccessKeys',
  'iam:CreateAccessKey',
  'iam:DeleteAccessKey',
] as const;

/** What an ensure-call did. */
export type Change = 'created' | 'updated' | 'unchanged';

/** A customer managed policy the group should have attached. */
export interface NamedPolicy {
  name: string;
  document: PolicyDocument;
}

/** IAM keeps at most 5 versions of a managed policy. */
const MAX_POLICY_VERSIONS = 5;

/** A managed IAM user as found. */
export interface IamUser {
  name: string;
  path: string;
  arn: string;
}

/** True when an SDK error is IAM's "does not exist". */
export function isNoSuchEntity(err: unknown): boolean {
  return (
    (err as { name?: string })?.name === 'NoSuchEntityException' ||
    (err as { name?: string })?.name === 'NoSuchEntity'
  );
}

/** True when an SDK error says the caller is not allowed to make the call. */
export function isAccessDenied(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'AccessDenied' || name === 'AccessDeniedException' || name === 'UnauthorizedOperation';
}

/**
 * An IAM call the caller may not make: an account that forbids IAM users and groups (AWS Academy Learner Lab,
 * many classroom accounts). Provisioning then skips the IAM part and does everything else.
 */
export class IamAccessDeniedError extends Error {
  /** The IAM action that was denied, e.g. `iam:CreateGroup`. */
  readonly action: string;
  constructor(action: string, options?: { cause?: unknown }) {
    super(`AccessDenied on ${action}`, options);
    this.name = 'IamAccessDeniedError';
    this.action = action;
  }
}

/** IAM for provisioning: the users group and its guardrail, users, login profiles, access keys. */
export class IamAdapter {
  constructor(private readonly client: IAMClient) {}

  /** Runs one call, turning an access-denied error into an IamAccessDeniedError that names the action. */
  private async checked<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (isAccessDenied(err)) throw new IamAccessDeniedError(action, { cause: err });
      throw err;
    }
  }

  /**
   * Creates the group under `path` if missing, sets its inline policy when it differs, and keeps each of
   * `managed` as a customer managed policy under `path` (a new default version when it differs) attached to it.
   */
  async ensureGroup(
    name: string,
    path: string,
    policyName: string,
    document: PolicyDocument,
    managed: readonly NamedPolicy[] = [],
  ): Promise<Change> {
    let change: Change = 'unchanged';
    let groupArn: string | undefined;
    try {
      const group = await this.checked('iam:GetGroup', () =>
        this.client.send(new GetGroupCommand({ GroupName: name })),
      );
      if (group.Group?.Path !== path) {
        throw new Error(
          `IAM group ${name} exists with path ${group.Group?.Path}, not ${path}; it is not ours, rename it`,
        );
      }
      groupArn = group.Group?.Arn;
    } catch (err) {
      if (!isNoSuchEntity(err)) throw err;
      const created = await this.checked('iam:CreateGroup', () =>
        this.client.send(new CreateGroupCommand({ GroupName: name, Path: path })),
      );
      groupArn = created.Group?.Arn;
      change = 'created';
    }
    let current: unknown;
    try {
      const res = await this.checked('iam:GetGroupPolicy', () =>
        this.client.send(new GetGroupPolicyCommand({ GroupName: name, PolicyName: policyName })),
      );
      current = res.PolicyDocument ? JSON.parse(decodeURIComponent(res.PolicyDocument)) : undefined;
    } catch (err) {
      if (!isNoSuchEntity(err)) throw err;
    }
    if (JSON.stringify(current) !== JSON.stringify(document)) {
      await this.checked('iam:PutGroupPolicy', () =>
        this.client.send(
          new PutGroupPolicyCommand({
            GroupName: name,
            PolicyName: policyName,
            PolicyDocument: JSON.stringify(document),
          }),
        ),
      );
      if (change === 'unchanged') change = 'updated';
    }
    for (const policy of managed) {
      const changed = await this.ensureAttachedPolicy(name, groupArn, path, policy);
      if (changed !== 'unchanged' && change === 'unchanged') change = 'updated';
    }
    return change;
  }

  /** One customer managed policy under `path`, with `document` as its default version, attached to the group. */
  private async ensureAttachedPolicy(
    group: string,
    groupArn: string | undefined,
    path: string,
    policy: NamedPolicy,
  ): Promise<Change> {
    // The policy's ARN follows from the group's: arn:<partition>:iam::<account>:group/... (same account).
    const [, partition, , , account] = (groupArn ?? '').split(':');
    if (!partition || !account) throw new Error(`IAM returned no ARN for group ${group}`);
    const policyArn = `arn:${partition}:iam::${account}:policy${path}${policy.name}`;
    const text = JSON.stringify(policy.document);
    let change: Change = 'unchanged';
    let defaultVersion: string | undefined;
    try {
      const found = await this.checked('iam:GetPolicy', () =>
        this.client.send(new GetPolicyCommand({ PolicyArn: policyArn })),
      );
      defaultVersion = found.Policy?.DefaultVersionId;
    } catch (err) {
      if (!isNoSuchEntity(err)) throw err;
      await this.checked('iam:CreatePolicy', () =>
        this.client.send(
          new CreatePolicyCommand({
            PolicyName: policy.name,
            Path: path,
            PolicyDocument: text,
            Description: `cost-watchdog guardrail of group ${group}; written by provision`,
          }),
        ),
      );
      change = 'created';
    }
    if (defaultVersion !== undefined) {
      const current = await this.checked('iam:GetPolicyVersion', () =>
        this.client.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: defaultVersion })),
      );
      const document = current.PolicyVersion?.Document;
      if (!document || JSON.stringify(JSON.parse(decodeURIComponent(document))) !== text) {
        const versions = await this.checked('iam:ListPolicyVersions', () =>
          this.client.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn })),
        );
        const old = (versions.Versions ?? []).filter((v) => !v.IsDefaultVersion && v.VersionId);
        if ((versions.Versions ?? []).length >= MAX_POLICY_VERSIONS && old.length > 0) {
          const oldest = old.sort(
            (a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0),
          )[0];
          await this.checked('iam:DeletePolicyVersion', () =>
            this.client.send(
              new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: oldest?.VersionId }),
            ),
          );
        }
        await this.checked('iam:CreatePolicyVersion', () =>
          this.client.send(
            new CreatePolicyVersionCommand({
              PolicyArn: policyArn,
              PolicyDocument: text,
              SetAsDefault: true,
            }),
          ),
        );
        change = 'updated';
      }
    }
    const attached = await this.checked('iam:ListAttachedGroupPolicies', () =>
      this.client.send(new ListAttachedGroupPoliciesCommand({ GroupName: group, PathPrefix: path })),
    );
    if (!(attached.AttachedPolicies ?? []).some((p) => p.PolicyArn === policyArn)) {
      await this.checked('iam:AttachGroupPolicy', () =>
        this.client.send(new AttachGroupPolicyCommand({ GroupName: group, PolicyArn: policyArn })),
      );
      if (change === 'unchanged') change = 'updated';
    }
    return change;
  }

  /** The user, or undefined when there is none. */
  async getUser(name: string): Promise<IamUser | undefined> {
    try {
      const res = await this.checked('iam:GetUser', () =>
        this.client.send(new GetUserCommand({ UserName: name })),
      );
      return { name, path: res.User?.Path ?? '/', arn: res.User?.Arn ?? '' };
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  /** Creates the user under `path` with `tags`. Callers check getUser() first. */
  async createUser(name: string, path: string, tags: Record<string, string>): Promise<IamUser> {
    const res = await this.client.send(
      new CreateUserCommand({
        UserName: name,
        Path: path,
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return { name, path, arn: res.User?.Arn ?? '' };
  }

  /** Adds the user to the group unless already a member. */
  async ensureInGroup(user: string, group: string): Promise<Change> {
    const groups = await this.groupsOf(user);
    if (groups.includes(group)) return 'unchanged';
    await this.client.send(new AddUserToGroupCommand({ UserName: user, GroupName: group }));
    return 'created';
  }

  private async groupsOf(user: string): Promise<string[]> {
    const out: string[] = [];
    let marker: string | undefined;
    do {
      const res = await this.client.send(
        new ListGroupsForUserCommand({ UserName: user, ...(marker ? { Marker: marker } : {}) }),
      );
      for (const g of res.Groups ?? []) if (g.GroupName) out.push(g.GroupName);
      marker = res.IsTruncated ? res.Marker : undefined;
    } while (marker);
    return out;
  }

  /** Whether the user has a console password. */
  async hasLoginProfile(user: string): Promise<boolean> {
    try {
      await this.client.send(new GetLoginProfileCommand({ UserName: user }));
      return true;
    } catch (err) {
      if (isNoSuchEntity(err)) return false;
      throw err;
    }
  }

  /** Gives the user a console password that must be changed at first sign-in. */
  async createLoginProfile(user: string, password: string): Promise<void> {
    await this.client.send(
      new CreateLoginProfileCommand({ UserName: user, Password: password, PasswordResetRequired: true }),
    );
  }

  /** Ids of the user's access keys. */
  async accessKeyIds(user: string): Promise<string[]> {
    const res = await this.client.send(new ListAccessKeysCommand({ UserName: user }));
    return (res.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? '').filter((k) => k !== '');
  }

  /** Creates an access key; the secret is returned once and must go straight to SSM. */
  async createAccessKey(user: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const res = await this.client.send(new CreateAccessKeyCommand({ UserName: user }));
    return {
      accessKeyId: res.AccessKey?.AccessKeyId ?? '',
      secretAccessKey: res.AccessKey?.SecretAccessKey ?? '',
    };
  }

  /**
   * Deletes a user created by provision: console password, access keys, group memberships, then the user.
   * Refuses a user outside `path`.
   */
  async deleteUser(user: string, path: string): Promise<boolean> {
    const found = await this.getUser(user);
    if (!found) return false;
    if (found.path !== path) {
      throw new Error(
        `IAM user ${user} has path ${found.path}, not ${path}: not created by cost-watchdog, left alone`,
      );
    }
    if (await this.hasLoginProfile(user))
      await this.client.send(new DeleteLoginProfileCommand({ UserName: user }));
    for (const id of await this.accessKeyIds(user)) {
      await this.client.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: id }));
    }
    for (const group of await this.groupsOf(user)) {
      await this.client.send(new RemoveUserFromGroupCommand({ UserName: user, GroupName: group }));
    }
    await this.client.send(new DeleteUserCommand({ UserName: user }));
    return true;
  }
}
