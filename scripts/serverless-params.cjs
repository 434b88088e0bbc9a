// Checks the deploy parameters before anything is packaged or deployed, with a message that says the fix.
// Used from serverless.yml as ${file(./scripts/serverless-params.cjs):alertEmail}.
'use strict';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

async function param(options, resolveVariable, name) {
  // --param key=value on the command line (options.param), else params: in serverless.yml.
  for (const item of [].concat(options?.param || [])) {
    const eq = String(item).indexOf('=');
    if (eq > 0 && String(item).slice(0, eq) === name)
      return (
        String(item)
          .slice(eq + 1)
          .trim() || undefined
      );
  }
  try {
    const value = await resolveVariable(`param:${name}`);
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  } catch {
    return undefined;
  }
}

module.exports.alertEmail = async ({ options, resolveVariable }) => {
  const email = await param(options, resolveVariable, 'alertEmail');
  if (!email) {
    throw new Error(
      'Missing alert email. Deploy (or package) with  --param alertEmail=you@example.edu  ' +
        '(the address that receives warnings and digests; confirm the subscription email AWS sends to it).',
    );
  }
  if (!EMAIL.test(email)) {
    throw new Error(
      `--param alertEmail="${email}" is not an email address; use e.g. --param alertEmail=you@example.edu`,
    );
  }
  return email;
};

// A tag key of the policy (tags.<field> in watchdog.yml, else its default), checked before it reaches IAM.
function policyTagKey(field, fallback) {
  const { readFileSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const { parse } = require('yaml');
  const file = join(__dirname, '..', 'watchdog.yml');
  const policy = existsSync(file) ? parse(readFileSync(file, 'utf8')) || {} : {};
  const key = policy.tags?.[field] || fallback;
  if (typeof key !== 'string' || !/^[\w .:/=+\-@]{1,128}$/.test(key)) {
    throw new Error(`watchdog.yml tags.${field}="${key}" is not a valid tag key`);
  }
  return key;
}

// The policy's exempt tag key (tags.exempt in watchdog.yml).
const exemptKey = () => policyTagKey('exempt', 'cost-watchdog:exempt');

// The policy's owner tag key (tags.owner in watchdog.yml).
const ownerKey = () => policyTagKey('owner', 'Owner');

// The IAM condition that denies StopInstances on exempt instances, keyed by the policy's exempt tag
// (serverless.yml cannot put a variable in a mapping key, so the whole mapping comes from here).
module.exports.exemptCondition = async () => ({ [`aws:ResourceTag/${exemptKey()}`]: 'true' });

// The tag keys the actions function may write: the watchdog's own, plus the policy's exempt key when it was
// renamed to something outside cost-watchdog:* (a "keep" link sets the snooze on that key).
module.exports.actionTagKeys = async () => {
  const key = exemptKey();
  return key.startsWith('cost-watchdog:') ? ['cost-watchdog:*'] : ['cost-watchdog:*', key];
};

// The one tag key provision may add to its own key pairs, groups and templates after creating them: the owner
// (the students' guardrail lets a student launch only with the ones tagged with their name).
module.exports.ownerTagKeys = async () => [ownerKey()];

// The IAM Null condition "the resource carries an owner tag": deprovision --stop-instances stops only those.
module.exports.ownerTagPresent = async () => ({ [`aws:ResourceTag/${ownerKey()}`]: 'false' });
