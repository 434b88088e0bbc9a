import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import type { AwsTarget } from '../aws/clients.js';
import { clientConfig } from '../aws/clients.js';
import { type CostServices, sdkCostServices } from '../aws/cost-services.js';
import { Notifier } from '../aws/sns.js';
import { describeError } from '../core/errors.js';
import { checkLaunch, type LaunchVerdict, renderLaunchAlert } from '../core/launch-check.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { type Policy, TAGS } from '../core/policy.js';
import type { Alert } from '../core/report.js';
import { cleanLine } from '../core/text.js';
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

/** What one invocation did (also the log line). */
export interface LaunchGuardResult {
  status: 'ignored' | 'compliant' | 'alerted' | 'warned' | 'stopped' | 'dry-run' | 'error';
  instanceId?: string;
  reason?: string;
  verdict?: Pick<LaunchVerdict, 'instanceType' | 'findings' | 'action' | 'outcome' | 'protection'> & {
    usdPerHour: number | null;
    priceSource: string;
  };
}

/** What the handler needs from outside; tests inject a clock, services, a notifier and a log sink. */
export interface LaunchGuardDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  services?: CostServices;
  notifier?: { publish(alert: Alert): Promise<unknown> };
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
      };
    }
    const { policy, services, notifier } = ready;
    if (!policy.launchGuard.enabled) {
      return { status: 'ignored', instanceId, reason: 'launchGuard.enabled is false' };
    }

    const now = deps.clock();
    const endpoint = deps.env.AWS_ENDPOINT_URL;
    const target: AwsTarget = { region, ...(endpoint ? { endpoint } : {}) };
    try {
      const result = await guard(instanceId, target, policy, services, notifier, now, log);
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

async function guard(
  instanceId: string,
  target: AwsTarget,
  policy: Policy,
  services: CostServices,
  notifier: { publish(alert: Alert): Promise<unknown> },
  now: Date,
  log: Logger,
): Promise<LaunchGuardResult> {
  const ec2 = services.ec2(target);
  const instance = await ec2.getRunning(instanceId);
  if (!instance) return { status: 'ignored', instanceId, reason: 'no longer running' };

  const types = await ec2.describeTypes([instance.instanceType]).catch((err: unknown) => {
    log({ level: 'warn', message: `launch-guard: DescribeInstanceTypes failed: ${describeError(err)}` });
    return new Map();
  });
  const info = types.get(instance.instanceType);
  if (info) instance.typeInfo = info;
  const groups = await services
    .costs(target)
    .securityGroupRules(instance.securityGroupIds ?? [])
    .catch((err: unknown) => {
      log({ level: 'warn', message: `launch-guard: DescribeSecurityGroups failed: ${describeError(err)}` });
      return [];
    });
  const price = await services.prices.hourly(instance.instanceType, instance.region);
  let verdict = checkLaunch(instance, groups, price, policy, now);
  const summary = (status: LaunchGuardResult['status']): LaunchGuardResult => ({
    status,
    instanceId,
    verdict: {
      instanceType: verdict.instanceType,
      findings: verdict.findings,
      action: verdict.action,
      outcome: verdict.outcome,
      protection: verdict.protection,
      usdPerHour: verdict.price.usdPerHour,
      priceSource: verdict.price.source,
    },
  });
  if (verdict.action === 'none') return summary('compliant');
  if (policy.dryRun) return summary('dry-run');

  let status: LaunchGuardResult['status'] = 'alerted';
  if (verdict.action === 'stop') {
    // Stop protection is only known by asking; a protected (or unknown) instance is not stopped.
    const guarded = await ec2.isStopProtected(instanceId).catch(() => null);
    if (guarded !== false) {
      verdict = {
        ...verdict,
        action: 'alert',
        outcome:
          guarded === true
            ? 'never stopped by the watchdog: stop protection is on'
            : 'not stopped: stop protection could not be checked; the next sweep decides',
      };
    } else {
      const [stop] = await ec2.stop([instanceId], instance.hibernationConfigured === true);
      if (stop?.ok) {
        status = 'stopped';
        const reason = `launch-guard: ${verdict.findings.map((f) => f.reason).join('; ')} (launchGuard.immediate)`;
        await ec2.tag([instanceId], {
          [TAGS.stoppedAt]: now.toISOString(),
          [TAGS.stopReason]: reason.length > 256 ? `${reason.slice(0, 253)}...` : reason,
        });
      } else {
        verdict = {
          ...verdict,
          action: 'alert',
          outcome: `the stop failed (${stop?.error ?? 'unknown'}); the next sweep tries again`,
        };
      }
    }
  } else if (verdict.action === 'warn') {
    const [tagged] = await ec2.tag([instanceId], {
      [TAGS.warnedAt]: now.toISOString(),
      [TAGS.warnRule]: 'non-free-tier',
    });
    if (tagged?.ok) status = 'warned';
    else
      verdict = {
        ...verdict,
        action: 'alert',
        outcome: `the warning tag could not be written (${tagged?.error}); the next sweep warns`,
      };
  }

  const alert = renderLaunchAlert(verdict, policy);
  await notifier.publish(alert);
  if (verdict.owner) await notifier.publish({ ...alert, owner: verdict.owner });
  return summary(status);
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
