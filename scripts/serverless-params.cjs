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

// The policy's exempt tag key (tags.exempt in watchdog.yml), checked once for both uses below.
function exemptKey() {
  const { readFileSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const { parse } = require('yaml');
  const file = join(__dirname, '..', 'watchdog.yml');
  const policy = existsSync(file) ? parse(readFileSync(file, 'utf8')) || {} : {};
  const key = policy.tags?.exempt || 'cost-watchdog:exempt';
  if (typeof key !== 'string' || !/^[\w .:/=+\-@]{1,128}$/.test(key)) {
    throw new Error(`watchdog.yml tags.exempt="${key}" is not a valid tag key`);
  }
  return key;
}

// The IAM condition that denies StopInstances on exempt instances, keyed by the policy's exempt tag
// (serverless.yml cannot put a variable in a mapping key, so the whole mapping comes from here).
module.exports.exemptCondition = async () => ({ [`aws:ResourceTag/${exemptKey()}`]: 'true' });

// The tag keys the actions function may write: the watchdog's own, plus the policy's exempt key when it was
// renamed to something outside cost-watchdog:* (a "keep" link sets the snooze on that key).
module.exports.actionTagKeys = async () => {
  const key = exemptKey();
  return key.startsWith('cost-watchdog:') ? ['cost-watchdog:*'] : ['cost-watchdog:*', key];
};

// Reserved concurrency of the public actions function (--param actionsConcurrency=N): the most link requests
// it serves at once, and a share of the account's concurrency nobody else can take. Unset by default: Lambda
// refuses a reservation that leaves the account less than its minimum unreserved concurrency (100 with the
// usual limit of 1,000; new accounts often have a limit of 10, so any reservation fails there), and a
// non-zero default would make `serverless deploy` fail for a newcomer (docs/actions.md, "Concurrency").
module.exports.actionsConcurrency = async ({ options, resolveVariable }) => {
  const value = await param(options, resolveVariable, 'actionsConcurrency');
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
    throw new Error(
      `--param actionsConcurrency="${value}" is not a whole number from 1 to 1000. Leave it out (no reservation, ` +
        'the default) or give e.g. --param actionsConcurrency=5; 0 would switch the links off entirely.',
    );
  }
  return Number(value);
};
