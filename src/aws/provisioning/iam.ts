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
  GetInstanceProfileCommand,
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
  'iam:GetInstanceProfile',
] as const;

/** A customer managed policy the group should have attached. */
export interface NamedPolicy {
  name: string;
  document: PolicyDocument;
}

/** An instance profile as found: its path and the ARNs of the roles in it. */
export interface InstanceProfile {
  arn: string;
  path: string;
  roleArns: string[];
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

  /** The group's path and ARN; undefined when there is no such group. */
  async findGroup(name: string): Promise<{ path: string; arn: string } | undefined> {
    try {
      const res = await this.checked('iam:GetGroup', () =>
        this.client.send(new GetGroupCommand({ GroupName: name })),
      );
      return { path: res.Group?.Path ?? '/', arn: res.Group?.Arn ?? '' };
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  /** The instance profile `name` (its path and roles); undefined when there is none. */
  async findInstanceProfile(name: string): Promise<InstanceProfile | undefined> {
    try {
      const res = await this.checked('iam:GetInstanceProfile', () =>
        this.client.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
      );
      const profile = res?.InstanceProfile;
      if (!profile) return undefined;
      return {
        arn: profile.Arn ?? '',
        path: profile.Path ?? '/',
        roleArns: (profile.Roles ?? []).flatMap((r) => (r.Arn ? [r.Arn] : [])),
      };
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  /** Creates the group under `path`; returns its ARN. */
  async createGroup(name: string, path: string): Promise<string> {
    const created = await this.checked('iam:CreateGroup', () =>
      this.client.send(new CreateGroupCommand({ GroupName: name, Path: path })),
    );
    return created.Group?.Arn ?? '';
  }

  /** The group's inline policy `policyName` (parsed JSON); undefined when it has none. */
  async groupPolicy(group: string, policyName: string): Promise<unknown> {
    try {
      const res = await this.checked('iam:GetGroupPolicy', () =>
        this.client.send(new GetGroupPolicyCommand({ GroupName: group, PolicyName: policyName })),
      );
      return res.PolicyDocument ? JSON.parse(decodeURIComponent(res.PolicyDocument)) : undefined;
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  /** Sets (or replaces) the group's inline policy. */
  async putGroupPolicy(group: string, policyName: string, document: PolicyDocument): Promise<void> {
    await this.checked('iam:PutGroupPolicy', () =>
      this.client.send(
        new PutGroupPolicyCommand({
          GroupName: group,
          PolicyName: policyName,
          PolicyDocument: JSON.stringify(document),
        }),
      ),
    );
  }

  /** The document of a customer managed policy's default version; `exists: false` when there is no policy. */
  async managedPolicy(policyArn: string): Promise<{ exists: false } | { exists: true; document: unknown }> {
    let defaultVersion: string | undefined;
    try {
      const found = await this.checked('iam:GetPolicy', () =>
        this.client.send(new GetPolicyCommand({ PolicyArn: policyArn })),
      );
      defaultVersion = found.Policy?.DefaultVersionId;
    } catch (err) {
      if (isNoSuchEntity(err)) return { exists: false };
      throw err;
    }
    if (defaultVersion === undefined) return { exists: true, document: undefined };
    const current = await this.checked('iam:GetPolicyVersion', () =>
      this.client.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: defaultVersion })),
    );
    const text = current.PolicyVersion?.Document;
    return { exists: true, document: text ? JSON.parse(decodeURIComponent(text)) : undefined };
  }

  /** Creates a customer managed policy under `path`. */
  async createManagedPolicy(policy: NamedPolicy, path: string, description: string): Promise<void> {
    await this.checked('iam:CreatePolicy', () =>
      this.client.send(
        new CreatePolicyCommand({
          PolicyName: policy.name,
          Path: path,
          PolicyDocument: JSON.stringify(policy.document),
          Description: description,
        }),
      ),
    );
  }

  /**
   * Makes `document` the policy's new default version. IAM keeps at most five versions: when there are five,
   * the oldest that is not the default goes first.
   */
  async setManagedPolicyDocument(policyArn: string, document: PolicyDocument): Promise<void> {
    const versions = await this.checked('iam:ListPolicyVersions', () =>
      this.client.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn })),
    );
    const old = (versions.Versions ?? []).filter((v) => !v.IsDefaultVersion && v.VersionId);
    if ((versions.Versions ?? []).length >= MAX_POLICY_VERSIONS && old.length > 0) {
      const oldest = old.sort((a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0))[0];
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
          PolicyDocument: JSON.stringify(document),
          SetAsDefault: true,
        }),
      ),
    );
  }

  /** ARNs of the managed policies under `path` attached to the group. */
  async attachedPolicyArns(group: string, path: string): Promise<string[]> {
    const attached = await this.checked('iam:ListAttachedGroupPolicies', () =>
      this.client.send(new ListAttachedGroupPoliciesCommand({ GroupName: group, PathPrefix: path })),
    );
    return (attached.AttachedPolicies ?? []).flatMap((p) => (p.PolicyArn ? [p.PolicyArn] : []));
  }

  /** Attaches a managed policy to the group. */
  async attachGroupPolicy(group: string, policyArn: string): Promise<void> {
    await this.checked('iam:AttachGroupPolicy', () =>
      this.client.send(new AttachGroupPolicyCommand({ GroupName: group, PolicyArn: policyArn })),
    );
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

  /** Adds the user to the group. */
  async addToGroup(user: string, group: string): Promise<void> {
    await this.client.send(new AddUserToGroupCommand({ UserName: user, GroupName: group }));
  }

  /** The names of the groups the user is in. */
  async groupsOf(user: string): Promise<string[]> {
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
