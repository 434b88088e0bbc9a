import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import type { AwsTarget } from '../aws/clients.js';
import { clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { Notifier } from '../aws/sns.js';
import { IAMClient } from '@aws-sdk/client-iam';
import { ProvisionedUsers } from '../aws/provisioned-users.js';
import { describeError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import type { Alert } from '../core/report.js';
import { cleanLine } from '../core/text.js';
import { guardLaunch, type LaunchGuardResult } from '../jobs/launch-guard.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import { type HandlerConfig, loadConfig } from './config.js';

/** The EventBridge event this function is for (EC2 publishes it without CloudTrail). */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';

const stateChangeEvent = z.object({
  source: z.literal('aws.ec2'),
  'detail-type': z.literal(STATE_CHANGE_DETAIL_TYPE),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
  account: z.string().optional(),
  time: z.string().optional(),
  detail: z.object({
    'instance-id': z.string().regex(/^i-[0-9a-f]{8,17}$/),
    // EC2 states are short words (pending, running, ...); anything longer is not EC2's and is not logged whole.
    state: z.string().max(32),
  }),
});

export type { LaunchGuardResult } from '../jobs/launch-guard.js';

/** What the handler needs from outside; tests inject a clock, services, a notifier and a log sink. */
export interface LaunchGuardDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: CostServices;
  notifier?: { publish(alert: Alert): Promise<unknown> };
  /** Members of the users group (IAM GetGroup); default: an IAM client in the home region. */
  provisionedUsers?: Pick<ProvisionedUsers, 'list'>;
  log?: Logger;
}

/**
 * Builds the launch-guard Lambda handler: on `EC2 Instance State-change Notification` with state `running`,
 * checks the instance at once and alerts (and, per policy, warns or stops it). Malformed or unexpected events
 * and AWS failures are logged and answered with a status, never thrown, so EventBridge's retries never repeat
 * an alert or loop on an event that can never succeed. An invalid policy or environment does throw (the
 * function cannot work and its error alarm must fire).
 */
export function createLaunchGuardHandler(
  deps: LaunchGuardDeps,
): (event: unknown) => Promise<LaunchGuardResult> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | {
        config: HandlerConfig;
        policy: Policy;
        services: CostServices;
        notifier: LaunchGuardDeps['notifier'] & {};
        users: Pick<ProvisionedUsers, 'list'>;
      }
    | undefined;

  return async (event) => {
    const parsed = stateChangeEvent.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      // The path and message may quote the event's own keys and values: one clean line.
      const reason = cleanLine(
        `not an EC2 state-change event: ${issue ? `${issue.path.join('.') || '(event)'}: ${issue.message}` : 'invalid'}`,
      );
      log({ level: 'warn', message: `launch-guard: ignored event (${reason})`, event: truncate(event) });
      return { status: 'ignored', reason };
    }
    const { detail, region } = parsed.data;
    const instanceId = detail['instance-id'];
    if (detail.state !== 'running') {
      const state = cleanLine(detail.state);
      log({ level: 'info', message: `launch-guard: ignored ${instanceId} state ${state}` });
      return { status: 'ignored', instanceId, reason: `state ${state}, not running` };
    }

    if (!ready) {
      const config = loadConfig(deps.env);
      const policy = readPolicyFile(config.policyFile);
      const endpoint = deps.env.AWS_ENDPOINT_URL;
      const home: AwsTarget = { region: config.region, ...(endpoint ? { endpoint } : {}) };
      ready = {
        config,
        policy,
        services: deps.services ?? sdkCostServices(home),
        notifier: deps.notifier ?? new Notifier(new SNSClient(clientConfig(home)), config.topicArn),
        // Injected services (tests) without injected users: nobody is provisioned, and no real IAM is asked.
        users:
          deps.provisionedUsers ??
          (deps.services
            ? { list: async () => ({ names: new Set<string>() }) }
            : new ProvisionedUsers(new IAMClient(clientConfig(home)), deps.clock)),
      };
    }
    const { policy, services, notifier, users } = ready;
    if (!policy.launchGuard.enabled) {
      return { status: 'ignored', instanceId, reason: 'launchGuard.enabled is false' };
    }

    const now = deps.clock();
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    const target: AwsTarget = { region, ...(endpoint ? { endpoint } : {}) };
    try {
      const result = await guardLaunch({
        instanceId,
        target,
        policy,
        services,
        provisionedUsers: () => users.list(),
        publish: (a) => notifier.publish(a),
        now,
        log,
      });
      log({ level: 'info', message: `launch-guard: ${instanceId} ${result.status}`, result });
      return result;
    } catch (err) {
      const reason = describeError(err);
      log({
        level: 'error',
        message: `launch-guard: ${instanceId} could not be checked: ${reason}`,
        instanceId,
      });
      return { status: 'error', instanceId, reason };
    }
  };
}

/** The ignored event for the log: its JSON as one clean line of at most 2,000 characters. */
function truncate(event: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(event) ?? String(event);
  } catch {
    text = String(event);
  }
  return cleanLine(text, 2000);
}

/** The Lambda entry point. */
export const handler = createLaunchGuardHandler({ clock: () => new Date(), env: process.env });
