// Checks the deploy parameters before anything is packaged or deployed, with a message that says the fix.
// Used from serverless.yml as ${file(./scripts/serverless-params.cjs):alertEmail}.
'use strict';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

async function param(options, resolveVariable, name) {
  // --param key=value on the command line (options.param), else params: in serverless.yml.
  for (const item of [].concat((options && options.param) || [])) {
    const eq = String(item).indexOf('=');
    if (eq > 0 && String(item).slice(0, eq) === name) return String(item).slice(eq + 1).trim() || undefined;
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
    throw new Error(`--param alertEmail="${email}" is not an email address; use e.g. --param alertEmail=you@example.edu`);
  }
  return email;
};
