/** The provision function's event, read into one request. Each user is validated on its own. */
import { InputError } from '../errors.js';
import { isKnownRegion } from '../policy.js';
import { cleanLine } from '../text.js';
import { parseUserName, parseUserRequest, type RosterRow } from './roster.js';

/** What one invocation of the provision function asks for. */
export interface ProvisionRequest {
  action: 'provision' | 'deprovision';
  rows: RosterRow[];
  consoleLogin: boolean;
  stopInstances: boolean;
  /** `"iam": false` in the event: lab accounts, no IAM group, user, password or access key. */
  skipIam: boolean;
  /** `"dryRun": true`: change nothing, return the plan. */
  dryRun: boolean;
  region?: string;
  /** The user to deprovision. */
  user?: string;
}

/** An event value for an error message: one clean line (no log or terminal injection), at most 40 characters. */
function shown(value: unknown): string {
  return cleanLine(String(value), 40);
}

/** The region of a deprovision event: a known AWS region, or an InputError naming the field. */
function parseRegion(value: unknown): string {
  if (typeof value !== 'string' || !isKnownRegion(value)) {
    throw new InputError('region', `"${shown(value)}" is not an AWS region; use e.g. us-east-1`);
  }
  return value;
}

function parseFlag(e: Record<string, unknown>, name: string, meaning: string): boolean | undefined {
  const value = e[name];
  if (value !== undefined && typeof value !== 'boolean') {
    throw new InputError(name, `must be true or false (${meaning}), not "${shown(value)}"`);
  }
  return value;
}

/**
 * Reads the event: `{ users: [{ user, email, cidr, type?, notebookPort?, region?, allowAnywhere?, setup? }],
 * consoleLogin?, iam?, dryRun? }`, one such user object on its own, or `{ action: 'deprovision', user, region?,
 * stopInstances?, iam?, dryRun? }`. `iam: false` leaves IAM alone (lab accounts); `dryRun: true` changes nothing
 * and returns the plan. Each user is validated on its own, so one bad entry fails only itself.
 */
export function parseProvisionEvent(event: unknown): ProvisionRequest {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InputError('event', 'must be an object: { users: [{ user, email, cidr }] } or one such user');
  }
  const e = event as Record<string, unknown>;
  if (e.iam !== undefined && typeof e.iam !== 'boolean') {
    throw new InputError('iam', 'must be true or false (false: create no IAM group, user or password)');
  }
  const skipIam = e.iam === false;
  const dryRun = parseFlag(e, 'dryRun', 'true: change nothing and return the plan') === true;
  if (e.action === 'deprovision') {
    return {
      action: 'deprovision',
      rows: [],
      consoleLogin: false,
      stopInstances: e.stopInstances === true,
      skipIam,
      dryRun,
      ...(e.region !== undefined ? { region: parseRegion(e.region) } : {}),
      user: parseUserName(e.user),
    };
  }
  if (e.action !== undefined && e.action !== 'provision') {
    throw new InputError('action', `"${shown(e.action)}" is unknown; use provision or deprovision`);
  }
  const { users, consoleLogin, action: _action, iam: _iam, dryRun: _dryRun, ...single } = e;
  const entries: unknown[] = Array.isArray(users) ? users : users === undefined ? [single] : [];
  if (entries.length === 0)
    throw new InputError('users', 'must be a non-empty list of { user, email, cidr }');
  const rows: RosterRow[] = entries.map((entry, i) => {
    try {
      const request = parseUserRequest(entry);
      return { line: i + 1, user: request.user, ok: true, request };
    } catch (err) {
      const name = (entry as { user?: unknown })?.user;
      return {
        line: i + 1,
        user: typeof name === 'string' ? cleanLine(name, 64) : '',
        ok: false,
        error: `users[${i}]: ${(err as Error).message}`,
      };
    }
  });
  return {
    action: 'provision',
    rows,
    consoleLogin: consoleLogin === true,
    stopInstances: false,
    skipIam,
    dryRun,
  };
}
