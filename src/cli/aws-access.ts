import type { AwsTarget } from '../aws/clients.js';

/** Who the credentials are, once checked. */
export type Identity = { account: string; arn: string };

/** The check a command that calls AWS runs first; `undefined` = none (services injected by a test). */
type AccessCheck = (home: AwsTarget) => Promise<Identity>;

const stsCheck: AccessCheck = async (home) => (await import('../aws/access-check.js')).checkAwsAccess(home);

let check: AccessCheck | undefined = stsCheck;

/**
 * For tests: replace the credentials check (`undefined`: skip it). Injecting fake services (setCliServices, ...)
 * skips it, since nothing reaches AWS then; injecting the SDK services again turns it back on.
 */
export function setAwsAccessCheck(replacement: AccessCheck | 'sts' | undefined): void {
  check = replacement === 'sts' ? stsCheck : replacement;
}

/** Runs the credentials check for `home`: resolves to who the caller is, or throws AwsAccessError (one line, fix). */
export async function checkAccess(home: AwsTarget): Promise<Identity | undefined> {
  return check ? check(home) : undefined;
}
