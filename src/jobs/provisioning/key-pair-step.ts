/** The user's ed25519 key pair, its private key kept only in SSM SecureString /cost-watchdog/keys/<user>. */
import { InputError } from '../../core/errors.js';
import { type ResourceOutcome, verb } from '../../core/provisioning/outcome.js';
import { TAGS } from '../../core/policy.js';
import {
  accessKeyParameterName,
  keyParameterName,
  passwordParameterName,
  resourceName,
} from '../../core/provisioning/roster.js';
import { outcome, ownTags, repairOwnerTag, type UserStep } from './steps.js';

/**
 * The key pair `cost-watchdog-<user>` with its private key in SSM. A key pair whose private key is missing from
 * SSM is replaced (repaired); a lost owner tag is put back; a key pair of that name without the managed tag is
 * not ours and fails the user. The private key never leaves this function except into SSM.
 */
export async function ensureKeyPair(step: UserStep): Promise<ResourceOutcome> {
  const name = resourceName(step.user);
  const parameter = keyParameterName(step.user);
  const keyPair = await step.ec2.findKeyPair(name);
  const haveKey = await step.ssm.exists(parameter);
  if (keyPair && !keyPair.managed) {
    throw new InputError(
      'user',
      `key pair ${name} exists without the ${TAGS.managed} tag: not ours, left alone; choose another user name`,
    );
  }
  if (keyPair && haveKey) {
    const retagged = await repairOwnerTag(step, keyPair.id, keyPair.tags);
    return outcome(step, {
      resource: 'key-pair',
      name,
      status: retagged ? 'repaired' : 'unchanged',
      id: keyPair.id,
      detail: `${retagged ? `${retagged}; ` : ''}private key in SSM ${parameter}`,
    });
  }
  const detail = keyPair
    ? `${verb(step.mode, 'replaced', 'replace')}: its private key was missing from SSM ${parameter}`
    : `private key in SSM ${parameter}`;
  if (step.mode === 'plan') {
    return outcome(step, {
      resource: 'key-pair',
      name,
      status: keyPair ? 'repaired' : 'created',
      ...(keyPair ? { id: keyPair.id } : {}),
      detail,
    });
  }
  if (keyPair) await step.ec2.deleteKeyPair(name);
  if (haveKey) await step.ssm.deleteManaged(parameter);
  const created = await step.ec2.createKeyPair(name, ownTags(step));
  try {
    await step.ssm.putSecret(parameter, created.privateKey, `private key of EC2 key pair ${name} (ed25519)`);
  } catch (err) {
    await step.ec2.deleteKeyPair(name);
    throw err;
  }
  return { resource: 'key-pair', name, status: keyPair ? 'repaired' : 'created', id: created.id, detail };
}

/** Deletes the key pair when it carries the managed tag; one of another origin is kept. */
export async function removeKeyPair(step: UserStep): Promise<ResourceOutcome> {
  const name = resourceName(step.user);
  const keyPair = await step.ec2.findKeyPair(name);
  if (keyPair?.managed) {
    if (step.mode === 'apply') await step.ec2.deleteKeyPair(name);
    return outcome(step, { resource: 'key-pair', name, id: keyPair.id, status: 'deleted' });
  }
  return outcome(step, {
    resource: 'key-pair',
    name,
    status: keyPair ? 'kept' : 'absent',
    ...(keyPair ? { detail: 'not managed' } : {}),
  });
}

/**
 * Deletes the user's secrets in SSM (private key, first console password, access key), each only with the managed
 * tag; one outcome per parameter that was there.
 */
export async function removeSecrets(step: UserStep): Promise<ResourceOutcome[]> {
  const out: ResourceOutcome[] = [];
  for (const [resource, parameter] of [
    ['key-pair', keyParameterName(step.user)],
    ['console-password', passwordParameterName(step.user)],
    ['access-key', accessKeyParameterName(step.user)],
  ] as const) {
    const there =
      step.mode === 'apply'
        ? await step.ssm.deleteManaged(parameter)
        : (await step.ssm.managedState(parameter)) === 'managed';
    if (there) out.push(outcome(step, { resource, name: parameter, status: 'deleted' }));
  }
  return out;
}
