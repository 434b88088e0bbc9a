import { IAMClient } from '@aws-sdk/client-iam';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { ProvisionedUsers } from '../aws/provisioned-users.js';
import { Notifier } from '../aws/sns.js';
import { MemberCredentials } from '../aws/sts.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { AlertSink } from '../core/ports.js';
import { answerStateChange, type LaunchGuardResult, type StateChangeDeps } from '../jobs/launch-guard.js';
import { handlerRuntime, onColdStart } from './runtime.js';

export { STATE_CHANGE_DETAIL_TYPE } from '../core/launch-event.js';
export type { LaunchGuardResult } from '../jobs/launch-guard.js';

/** What the handler needs from outside; tests inject a clock, services, a notifier and a log sink. */
export interface LaunchGuardDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: CostServices;
  notifier?: AlertSink;
  /** Credentials of a member account's role; default: STS AssumeRole from the home region. */
  memberCredentials?: StateChangeDeps['memberCredentials'];
  /** Members of the users group (IAM GetGroup); default: an IAM client in the home region. */
  provisionedUsers?: Pick<ProvisionedUsers, 'list'>;
  log?: Logger;
}

/**
 * Builds the launch-guard Lambda handler: one answerStateChange() per EventBridge event. An invalid policy or
 * environment throws on the first invocation (the function cannot work and its error alarm must fire); everything
 * else is answered with a status.
 */
export function createLaunchGuardHandler(
  deps: LaunchGuardDeps,
): (event: unknown) => Promise<LaunchGuardResult> {
  const log = deps.log ?? jsonLogger;
  const ready = onColdStart((): StateChangeDeps => {
    const rt = handlerRuntime(deps.env);
    // Injected services (tests) without injected users: nobody is provisioned, and no real IAM is asked.
    const users =
      deps.provisionedUsers ??
      (deps.services
        ? { list: async () => ({ names: new Set<string>() }) }
        : new ProvisionedUsers(new IAMClient(clientConfig(rt.home)), deps.clock));
    // Launches in member accounts (forwarded events) are read with their member role; one STS client per container.
    let sts: MemberCredentials | undefined;
    const memberCredentials =
      deps.memberCredentials ??
      ((account: string, roleName: string) => {
        sts ??= new MemberCredentials(new STSClient(clientConfig(rt.home)), rt.home.region, deps.clock);
        return sts.provider(account, roleName);
      });
    return {
      policy: rt.policy,
      home: rt.home,
      homeAccount: rt.account,
      memberCredentials,
      services: deps.services ?? sdkCostServices(rt.home),
      provisionedUsers: () => users.list(),
      alerts: deps.notifier ?? new Notifier(new SNSClient(clientConfig(rt.home)), rt.topicArn),
      log,
    };
  });
  return async (event) => answerStateChange(event, ready(), deps.clock());
}

/** The Lambda entry point. */
export const handler = createLaunchGuardHandler({ clock: () => new Date(), env: process.env });
