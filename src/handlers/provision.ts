import { jsonLogger, type Logger } from '../core/log.js';
import { parseProvisionEvent } from '../core/provisioning/event.js';
import { type ProvisionResponse, runProvisionRequest } from '../jobs/provisioning/provision-request.js';
import { type ProvisionServices, sdkProvisionServices } from '../jobs/provisioning/services.js';
import { handlerRuntime, onColdStart } from './runtime.js';

export type { ProvisionResponse } from '../jobs/provisioning/provision-request.js';

/** What the handler needs from outside; tests inject services, a clock and a log sink. */
export interface ProvisionHandlerDeps {
  env: NodeJS.ProcessEnv;
  services?: ProvisionServices;
  log?: Logger;
  clock?: () => Date;
}

/**
 * Builds the provision Lambda handler (invoked by `serverless invoke -f provision` or the console): the event
 * (parseProvisionEvent: users to provision, or a user to deprovision; `dryRun: true` changes nothing) goes to
 * one runProvisionRequest() with the runtime read once per container.
 */
export function createProvisionHandler(
  deps: ProvisionHandlerDeps,
): (event: unknown) => Promise<ProvisionResponse> {
  const log = deps.log ?? jsonLogger;
  const ready = onColdStart(() => {
    const rt = handlerRuntime(deps.env);
    return { rt, services: deps.services ?? sdkProvisionServices(rt.home, rt.topicArn) };
  });
  return async (event) => {
    const { rt, services } = ready();
    const request = parseProvisionEvent(event);
    return runProvisionRequest(request, {
      services,
      policy: rt.policy,
      homeRegion: rt.region,
      log,
      now: (deps.clock ?? (() => new Date()))(),
    });
  };
}

/** The Lambda entry point. */
export const handler = createProvisionHandler({ env: process.env });
