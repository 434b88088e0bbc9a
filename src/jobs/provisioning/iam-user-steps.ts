/**
 * The IAM part of a user's baseline: the user (path /cost-watchdog/), its membership of the users group, an
 * optional console password and an optional access key, both kept only in SSM SecureString. And its removal.
 */
import { randomInt } from 'node:crypto';
import type { ResourceOutcome } from '../../core/provisioning/outcome.js';
import { NAMES } from '../../core/policy.js';
import { accessKeyParameterName, passwordParameterName } from '../../core/provisioning/roster.js';
import { outcome, ownTags, type UserStep } from './steps.js';

/** A console password that meets IAM's default rules (20 characters, upper, lower, digit, symbol). */
export function generatePassword(): string {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@#%^*()-_=+[]{}:,.?'];
  const all = sets.join('');
  const chars = sets.map((s) => s[randomInt(s.length)] as string);
  while (chars.length < 20) chars.push(all[randomInt(all.length)] as string);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

/**
 * The IAM user under /cost-watchdog/ (a name taken outside the path is refused before any step runs). `existed`:
 * it was there before this run; `exists`: it is there now (false only in a dry run for a new user).
 */
export async function ensureUser(
  step: UserStep,
): Promise<{ outcome: ResourceOutcome; existed: boolean; exists: boolean }> {
  const found = await step.services.iam.getUser(step.user);
  if (!found && step.mode === 'apply')
    await step.services.iam.createUser(step.user, NAMES.iamPath, ownTags(step));
  return {
    outcome: outcome(step, { resource: 'user', name: step.user, status: found ? 'unchanged' : 'created' }),
    existed: found !== undefined,
    exists: found !== undefined || step.mode === 'apply',
  };
}

/** Whether an existing user already has a console password and an access key (from an earlier run). */
export async function credentialsOf(
  step: UserStep,
): Promise<{ consolePassword: boolean; accessKey: boolean }> {
  const { iam } = step.services;
  return {
    consolePassword: await iam.hasLoginProfile(step.user),
    accessKey: (await iam.accessKeyIds(step.user)).length > 0,
  };
}

/** Membership of the users group (and so the guardrail). `userExists`: false in a dry run for a new user. */
export async function ensureMembership(step: UserStep, userExists: boolean): Promise<ResourceOutcome> {
  const member = userExists && (await step.services.iam.groupsOf(step.user)).includes(NAMES.usersGroup);
  if (!member && step.mode === 'apply') await step.services.iam.addToGroup(step.user, NAMES.usersGroup);
  return outcome(step, {
    resource: 'group-membership',
    name: NAMES.usersGroup,
    status: member ? 'unchanged' : 'created',
  });
}

/**
 * A console password that must be changed at the first sign-in, stored only in SSM SecureString
 * /cost-watchdog/passwords/<user> (where the instructor reads it to hand it over). A parameter left over from a
 * failed run without a login profile is replaced; the parameter goes again when IAM refuses the password.
 */
export async function ensureConsolePassword(
  step: UserStep,
  userExists: boolean,
  generate: () => string = generatePassword,
): Promise<ResourceOutcome> {
  const parameter = passwordParameterName(step.user);
  if (userExists && (await step.services.iam.hasLoginProfile(step.user))) {
    return outcome(step, { resource: 'console-password', name: parameter, status: 'unchanged' });
  }
  if (step.mode === 'apply') {
    await step.ssm.deleteManaged(parameter);
    const password = generate();
    await step.ssm.putSecret(
      parameter,
      password,
      `first console password of ${step.user}; must be changed at sign-in`,
    );
    try {
      await step.services.iam.createLoginProfile(step.user, password);
    } catch (err) {
      await step.ssm.deleteManaged(parameter);
      throw err;
    }
  }
  return outcome(step, {
    resource: 'console-password',
    name: parameter,
    status: 'created',
    detail: 'reset required at first sign-in',
  });
}

/** One access key for a user who has none; its secret goes only to SSM /cost-watchdog/access-keys/<user>. */
export async function ensureAccessKey(step: UserStep, userExists: boolean): Promise<ResourceOutcome> {
  const parameter = accessKeyParameterName(step.user);
  const keys = userExists ? await step.services.iam.accessKeyIds(step.user) : [];
  if (keys.length > 0) {
    return outcome(step, {
      resource: 'access-key',
      name: parameter,
      status: 'unchanged',
      id: keys[0] as string,
    });
  }
  if (step.mode === 'plan') {
    return outcome(step, { resource: 'access-key', name: parameter, status: 'created' });
  }
  const key = await step.services.iam.createAccessKey(step.user);
  await step.ssm.deleteManaged(parameter);
  await step.ssm.putSecret(parameter, JSON.stringify(key), `access key of ${step.user}`);
  return { resource: 'access-key', name: parameter, status: 'created', id: key.accessKeyId };
}

/**
 * Removes the IAM user provision created (its console password, access keys and group memberships first). A user
 * outside /cost-watchdog/ is refused.
 */
export async function removeUser(step: UserStep): Promise<ResourceOutcome> {
  const { iam } = step.services;
  if (step.mode === 'apply') {
    const deleted = await iam.deleteUser(step.user, NAMES.iamPath);
    return { resource: 'user', name: step.user, status: deleted ? 'deleted' : 'absent' };
  }
  const found = await iam.getUser(step.user);
  if (!found) return outcome(step, { resource: 'user', name: step.user, status: 'absent' });
  if (found.path !== NAMES.iamPath) {
    throw new Error(
      `IAM user ${step.user} has path ${found.path}, not ${NAMES.iamPath}: not created by cost-watchdog, left alone`,
    );
  }
  const parts = [
    ...((await iam.hasLoginProfile(step.user)) ? ['its console password'] : []),
    ...(await iam.accessKeyIds(step.user)).map((id) => `access key ${id}`),
    ...(await iam.groupsOf(step.user)).map((g) => `membership of ${g}`),
  ];
  return outcome(step, {
    resource: 'user',
    name: step.user,
    status: 'deleted',
    ...(parts.length > 0 ? { detail: `with ${parts.join(', ')}` } : {}),
  });
}
