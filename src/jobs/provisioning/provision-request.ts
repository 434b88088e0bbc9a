/** One provision-function invocation: a provision or deprovision request run, logged and answered. */
import type { Logger } from '../../core/log.js';
import type { ProvisionRequest } from '../../core/provisioning/event.js';
import type { Policy } from '../../core/policy.js';
import { type DeprovisionResult, deprovisionUser } from './deprovision.js';
import { type ProvisionResult, provisionRoster } from './provision.js';
import type { ProvisionServices } from './services.js';

/** The answer: per-user results (names, ids, the handout; never a key or password). */
export interface ProvisionResponse {
  action: 'provision' | 'deprovision';
  /** A dry run: nothing was changed. */
  dryRun: boolean;
  results: (ProvisionResult | DeprovisionResult)[];
  failed: number;
}

/** What a request runs with. */
export interface ProvisionRequestDeps {
  services: ProvisionServices;
  policy: Policy;
  homeRegion: string;
  log: Logger;
  now: Date;
}

/**
 * Runs a provision or deprovision request and logs one line per user (the handout left out of the log: it is
 * in the answer).
 */
export async function runProvisionRequest(
  request: ProvisionRequest,
  deps: ProvisionRequestDeps,
): Promise<ProvisionResponse> {
  const { services, policy, log, dryRun } = { ...deps, dryRun: request.dryRun };
  const verb = dryRun ? 'dry run of ' : '';
  if (request.action === 'deprovision' && request.user !== undefined) {
    const result = await deprovisionUser(request.user, {
      services,
      policy,
      region: request.region ?? deps.homeRegion,
      stopInstances: request.stopInstances,
      skipIam: request.skipIam,
      dryRun,
      now: deps.now,
    });
    const failed = result.status === 'removed' ? 0 : 1;
    log({
      level: failed ? 'error' : 'info',
      message: `${verb}deprovision ${request.user}: ${result.status}`,
      result,
    });
    return { action: 'deprovision', dryRun, results: [result], failed };
  }
  const { results } = await provisionRoster(request.rows, {
    services,
    policy,
    homeRegion: deps.homeRegion,
    consoleLogin: request.consoleLogin,
    skipIam: request.skipIam,
    dryRun,
  });
  const failed = results.filter((r) => r.status === 'failed').length;
  for (const r of results) {
    const { instructions: _instructions, ...summary } = r;
    log({
      level: r.status === 'failed' ? 'error' : 'info',
      message: `${verb}provision ${r.user}: ${r.status}`,
      result: summary,
    });
  }
  return { action: 'provision', dryRun, results, failed };
}
