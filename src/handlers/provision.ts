import { InputError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { isKnownRegion } from '../core/policy.js';
import { parseUserName, parseUserRequest, type RosterRow } from '../core/provisioning/roster.js';
import { cleanLine } from '../core/text.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import {
  type DeprovisionResult,
  deprovisionUser,
  type ProvisionResult,
  type ProvisionServices,
  provisionRoster,
  sdkProvisionServices,
} from '../jobs/provisioning/provision.js';
import { loadConfig } from './config.js';

/** What the handler needs from outside; tests inject services and a log sink. */
export interface ProvisionHandlerDeps {
  env: NodeJS.ProcessEnv;
  services?: ProvisionServices;
  log?: Logger;
}

/** The handler's answer: per-user results (names, ids, instructions; never a key or password). */
export interface ProvisionResponse {
  action: 'provision' | 'deprovision';
  results: (ProvisionResult | DeprovisionResult)[];
  failed: number;
}

interface ParsedEvent {
  action: 'provision' | 'deprovision';
  rows: RosterRow[];
  consoleLogin: boolean;
  stopInstances: boolean;
  /** `"iam": false` in the event: lab accounts, no IAM group, user, password or access key. */
  skipIam: boolean;
  region?: string;
  /** The user to deprovision. */
  user?: string;
}

/**
 * Reads the event: `{ users: [{ user, email, cidr, type?, notebookPort?, region?, allowAnywhere?, setup? }],
 * consoleLogin?, iam? }`, one such user object on its own, or `{ action: 'deprovision', user, region?,
 * stopInstances?, iam? }`. `iam: false` leaves IAM alone (lab accounts). Each user is validated on its own, so
 * one bad entry fails only itself.
 */
export function parseProvisionEvent(event: unknown): ParsedEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InputError('event', 'must be an object: { users: [{ user, email, cidr }] } or one such user');
  }
  const e = event as Record<string, unknown>;
  if (e.iam !== undefined && typeof e.iam !== 'boolean') {
    throw new InputError('iam', 'must be true or false (false: create no IAM group, user or password)');
  }
  const skipIam = e.iam === false;
  if (e.action === 'deprovision') {
    return {
      action: 'deprovision',
      rows: [],
      consoleLogin: false,
      stopInstances: e.stopInstances === true,
      skipIam,
      ...(e.region !== undefined ? { region: parseRegion(e.region) } : {}),
      user: parseUserName(e.user),
    };
  }
  if (e.action !== undefined && e.action !== 'provision') {
    throw new InputError('action', `"${shown(e.action)}" is unknown; use provision or deprovision`);
  }
  const { users, consoleLogin, action: _action, iam: _iam, ...single } = e;
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
  return { action: 'provision', rows, consoleLogin: consoleLogin === true, stopInstances: false, skipIam };
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

/** Builds the provision Lambda handler (invoked by `serverless invoke -f provision` or the console). */
export function createProvisionHandler(
  deps: ProvisionHandlerDeps,
): (event: unknown) => Promise<ProvisionResponse> {
  const log = deps.log ?? jsonLogger;
  return async (event) => {
    const config = loadConfig(deps.env);
    const policy = readPolicyFile(config.policyFile);
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
    const services = deps.services ?? sdkProvisionServices(home, config.topicArn);
    const parsed = parseProvisionEvent(event);
    if (parsed.action === 'deprovision' && parsed.user !== undefined) {
      const user = parsed.user;
      const result = await deprovisionUser(user, {
        services,
        policy,
        region: parsed.region ?? config.region,
        stopInstances: parsed.stopInstances,
        skipIam: parsed.skipIam,
      });
      const failed = result.status === 'removed' ? 0 : 1;
      log({ level: failed ? 'error' : 'info', message: `deprovision ${user}: ${result.status}`, result });
      return { action: 'deprovision', results: [result], failed };
    }
    const { results } = await provisionRoster(parsed.rows, {
      services,
      policy,
      homeRegion: config.region,
      consoleLogin: parsed.consoleLogin,
      skipIam: parsed.skipIam,
    });
    const failed = results.filter((r) => r.status === 'failed').length;
    for (const r of results) {
      const { instructions: _instructions, ...summary } = r;
      log({
        level: r.status === 'failed' ? 'error' : 'info',
        message: `provision ${r.user}: ${r.status}`,
        result: summary,
      });
    }
    return { action: 'provision', results, failed };
  };
}

/** The Lambda entry point. */
export const handler = createProvisionHandler({ env: process.env });
