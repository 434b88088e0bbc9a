import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { Ec2Adapter } from '../aws/ec2.js';
import { SIGNING_KEY_READ_PERMISSIONS, SigningKeyStore } from '../aws/signing-key.js';
import {
  formatLocalTime,
  KEEP_HOURS,
  keepUntil,
  type LinkClaims,
  type LinkRejection,
  type LinkVerdict,
  verifyLink,
} from '../core/action-links.js';
import { type ActionPage, renderActionPage } from '../core/action-page.js';
import { describeError } from '../core/errors.js';
import { findProtection, parseSnooze } from '../core/evaluate.js';
import { jsonLogger, type Logger } from '../core/log.js';
import { type Policy, TAGS } from '../core/policy.js';
import { readPolicyFile } from '../jobs/policy-file.js';
import { type ActionsConfig, loadActionsConfig } from './actions-config.js';

/** IAM actions of the actions function; its role grants exactly these (checked by a template test). */
export const ACTIONS_PERMISSIONS = [
  ...SIGNING_KEY_READ_PERMISSIONS,
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceAttribute',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:StopInstances',
] as const;

/** The stop-reason tag of an instance stopped through a link. */
export const STOP_REASON_LINK = 'stopped via link by the owner';

/** The parts of a Lambda function URL event (payload format 2.0) this handler reads. */
export interface FunctionUrlEvent {
  rawQueryString?: string;
  queryStringParameters?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string } };
}

/** A function URL response. */
export interface FunctionUrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** What the handler needs from outside; tests inject a clock, the key store, EC2 adapters and a log sink. */
export interface ActionsHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  keys?: Pick<SigningKeyStore, 'read' | 'refresh'>;
  ec2?: (region: string) => Ec2Adapter;
  log?: Logger;
}

const HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token is in the URL: never send it on as a Referer.
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const REJECTION_STATUS: Record<LinkRejection, number> = {
  malformed: 400,
  'wrong-key': 403,
  tampered: 403,
  expired: 410,
};

const ACTION_LABEL: Record<LinkClaims['action'], string> = {
  keep4h: `Keep it running ${KEEP_HOURS} more hours`,
  keepTomorrow: 'Keep it running until tomorrow',
  stop: 'Stop it now',
};

function respond(page: ActionPage): FunctionUrlResponse {
  return { statusCode: page.status, headers: HEADERS, body: renderActionPage(page) };
}

/** A field of the request if it is a string: the request is untrusted and any field may hold anything. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function tokenOf(event: FunctionUrlEvent, method: string): string | undefined {
  const form = text(event.body);
  if (method === 'POST' && form) {
    const body = event.isBase64Encoded ? Buffer.from(form, 'base64').toString('utf8') : form;
    const fromBody = new URLSearchParams(body).get('t');
    if (fromBody) return fromBody;
  }
  return (
    text(event.queryStringParameters?.t) ??
    new URLSearchParams(text(event.rawQueryString) ?? '').get('t') ??
    undefined
  );
}

/**
 * Builds the handler of the actions function URL. GET shows what a valid link will do and a button; only
 * the button's POST changes anything (mail scanners that open every link in an email must not snooze or stop
 * instances). Every request is verified first: a malformed, tampered, expired or foreign-key link gets a page
 * saying why and no AWS call is made. `keep` sets the snooze tag and removes the warning; `stop` re-reads the
 * instance and applies the sweep's safety rules (never exempt, snoozed, managed or stop-protected instances).
 */
export function createActionsHandler(
  deps: ActionsHandlerDeps,
): (event: unknown) => Promise<FunctionUrlResponse> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | {
        config: ActionsConfig;
        policy: Policy;
        keys: Pick<SigningKeyStore, 'read' | 'refresh'>;
        ec2: (region: string) => Ec2Adapter;
      }
    | undefined;

  return async (raw) => {
    const event = (raw ?? {}) as FunctionUrlEvent;
    const given: unknown = event.requestContext?.http?.method;
    const method = given === undefined || given === null ? 'GET' : (text(given)?.toUpperCase() ?? '');
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
      return respond({
        status: 405,
        tone: 'refused',
        title: 'Not allowed',
        message: 'Open the link from the email.',
      });
    }
    if (!ready) {
      const config = loadActionsConfig(deps.env);
      const endpoint = deps.env.AWS_ENDPOINT_URL;
      const home = { region: config.region, ...(endpoint ? { endpoint } : {}) };
      const adapters = new Map<string, Ec2Adapter>();
      ready = {
        config,
        policy: readPolicyFile(config.policyFile),
        keys:
          deps.keys ??
          new SigningKeyStore(new SSMClient(clientConfig(home)), config.keyParameter, deps.clock),
        ec2:
          deps.ec2 ??
          ((region) => {
            let a = adapters.get(region);
            if (!a) {
              a = new Ec2Adapter(new EC2Client(clientConfig({ ...home, region })), region);
              adapters.set(region, a);
            }
            return a;
          }),
      };
    }
    const { config, policy, keys, ec2 } = ready;
    const now = deps.clock();

    const token = tokenOf(event, method);
    if (!token) {
      return respond({
        status: 400,
        tone: 'refused',
        title: 'No link',
        message: 'This address only works with a link from a cost-watchdog warning. Nothing was changed.',
      });
    }

    let verdict: LinkVerdict;
    try {
      verdict = await verify(token, keys, now);
    } catch (err) {
      log({ level: 'error', message: `actions: signing key unavailable: ${describeError(err)}` });
      return respond({
        status: 503,
        tone: 'refused',
        title: 'Try again later',
        message: 'The link could not be checked just now. Nothing was changed.',
      });
    }
    if (!verdict.ok) {
      log({ level: 'warn', message: `actions: link refused (${verdict.reason})`, reason: verdict.reason });
      return respond({
        status: REJECTION_STATUS[verdict.reason],
        tone: 'refused',
        title: verdict.reason === 'expired' ? 'This link has expired' : 'This link is not valid',
        message: `${capitalise(verdict.message)}. Nothing was changed.`,
        details: [
          verdict.reason === 'expired'
            ? 'Links in a warning work for 24 hours. A newer warning has fresh links, or tag the instance in the EC2 console.'
            : 'Use the link exactly as it is in the warning email, or tag the instance in the EC2 console.',
        ],
      });
    }
    const claims = verdict.claims;
    if (claims.account !== config.account) {
      log({ level: 'warn', message: 'actions: link for another account refused', account: claims.account });
      return respond({
        status: 403,
        tone: 'refused',
        title: 'Wrong account',
        message: `This link is for AWS account ${claims.account}; this cost-watchdog acts in ${config.account} only. Nothing was changed.`,
      });
    }

    if (method !== 'POST') return respond(confirmation(claims, token, policy, now));

    try {
      const page =
        claims.action === 'stop'
          ? await stopInstance(claims, ec2(claims.region), policy, now)
          : await keepInstance(claims, ec2(claims.region), policy, now);
      log({
        level: 'info',
        message: `actions: ${claims.action} ${claims.instanceId}: ${page.title}`,
        instanceId: claims.instanceId,
        region: claims.region,
        action: claims.action,
        status: page.status,
      });
      return respond(page);
    } catch (err) {
      log({
        level: 'error',
        message: `actions: ${claims.action} ${claims.instanceId} failed: ${describeError(err)}`,
        instanceId: claims.instanceId,
        action: claims.action,
      });
      return respond({
        status: 502,
        tone: 'refused',
        title: 'Something went wrong',
        message: `${claims.instanceId} could not be checked just now (${describeError(err)}). Try the link again in a minute.`,
      });
    }
  };
}

async function verify(
  token: string,
  keys: Pick<SigningKeyStore, 'read' | 'refresh'>,
  now: Date,
): Promise<LinkVerdict> {
  const key = await keys.read();
  const first: LinkVerdict = key
    ? verifyLink(token, key, now)
    : { ok: false, reason: 'wrong-key', message: 'no link has been signed by this cost-watchdog yet' };
  if (first.ok || first.reason !== 'wrong-key') return first;
  // The key may have been replaced since this container read it: read it again (rate-limited) and retry.
  const fresh = await keys.refresh();
  return fresh && fresh !== key ? verifyLink(token, fresh, now) : first;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function confirmation(claims: LinkClaims, token: string, policy: Policy, now: Date): ActionPage {
  const id = `${claims.instanceId} (${claims.region})`;
  const message =
    claims.action === 'stop'
      ? `Stop ${id} now? It is stopped, never terminated: its disk stays and you can start it again.`
      : `Keep ${id} running until ${formatLocalTime(keepUntil(claims, now), policy.timeZone)}? cost-watchdog will not stop it before then.`;
  return {
    status: 200,
    tone: 'confirm',
    title: ACTION_LABEL[claims.action],
    message,
    details: [`This link works until ${formatLocalTime(new Date(claims.exp * 1000), policy.timeZone)}.`],
    confirm: { label: ACTION_LABEL[claims.action], token },
  };
}

function notRunning(claims: LinkClaims): ActionPage {
  return {
    status: 200,
    tone: 'done',
    title: 'Not running',
    message: `${claims.instanceId} is not running (stopped, stopping or gone). Nothing was changed.`,
  };
}

async function keepInstance(
  claims: LinkClaims,
  ec2: Ec2Adapter,
  policy: Policy,
  now: Date,
): Promise<ActionPage> {
  const instance = await running(ec2, claims.instanceId);
  if (!instance) return notRunning(claims);
  const until = keepUntil(claims, now);
  const protection = findProtection(instance, policy, now.getTime());
  if (protection && protection.kind !== 'snoozed') {
    return {
      status: 200,
      tone: 'done',
      title: 'Never stopped',
      message: `${claims.instanceId} is never stopped by cost-watchdog: ${protection.reason}. Nothing was changed.`,
    };
  }
  const current = instance.tags[policy.tags.exempt];
  const snoozedUntil = current !== undefined ? parseSnooze(current.trim()) : null;
  if (snoozedUntil !== null && snoozedUntil >= until.getTime()) {
    return {
      status: 200,
      tone: 'done',
      title: 'Already kept',
      message: `${claims.instanceId} will not be stopped before ${formatLocalTime(new Date(snoozedUntil), policy.timeZone)}. Nothing was changed.`,
    };
  }
  const [tagged] = await ec2.tag([claims.instanceId], { [policy.tags.exempt]: until.toISOString() });
  if (!tagged?.ok) throw new Error(tagged?.error ?? 'CreateTags failed');
  // The warning is answered: a new one (and a new grace period) starts only after the snooze.
  const [cleared] = await ec2.untag([claims.instanceId], [TAGS.warnedAt, TAGS.warnRule]);
  return {
    status: 200,
    tone: 'done',
    title: 'Kept running',
    message: `${claims.instanceId} will not be stopped before ${formatLocalTime(until, policy.timeZone)}.`,
    details: [
      `Tag ${policy.tags.exempt}=${until.toISOString()} was set. Stop it yourself when you are done: a stopped instance costs only its disk.`,
      ...(cleared?.ok ? [] : ['(The old warning tag could not be removed; the snooze still applies.)']),
    ],
  };
}

async function stopInstance(
  claims: LinkClaims,
  ec2: Ec2Adapter,
  policy: Policy,
  now: Date,
): Promise<ActionPage> {
  const instance = await running(ec2, claims.instanceId);
  if (!instance) return notRunning(claims);
  // The sweep's safety rules, on fresh facts: stop protection is only known by asking.
  instance.stopProtected = await ec2.isStopProtected(claims.instanceId);
  const protection = findProtection(instance, policy, now.getTime());
  if (protection) {
    return {
      status: 409,
      tone: 'refused',
      title: 'Not stopped',
      message: `${claims.instanceId} was not stopped: it is never stopped by cost-watchdog (${protection.reason}).`,
      details: ['Stop it in the EC2 console if you really mean to.'],
    };
  }
  const [stop] = await ec2.stop([claims.instanceId], instance.hibernationConfigured === true);
  if (!stop?.ok) {
    return {
      status: 502,
      tone: 'refused',
      title: 'Not stopped',
      message: `${claims.instanceId} could not be stopped: ${stop?.error ?? 'unknown error'}. Nothing else was changed.`,
    };
  }
  const notes: string[] = [];
  const [tagged] = await ec2.tag([claims.instanceId], {
    [TAGS.stoppedAt]: now.toISOString(),
    [TAGS.stopReason]: STOP_REASON_LINK,
  });
  if (!tagged?.ok) notes.push('(The stop-reason tag could not be written; the instance is stopping anyway.)');
  await ec2.untag([claims.instanceId], [TAGS.warnedAt, TAGS.warnRule]);
  return {
    status: 200,
    tone: 'done',
    title: 'Stopping',
    message: `${claims.instanceId} is ${instance.hibernationConfigured ? 'hibernating' : 'stopping'}. Nothing was deleted; start it again from the EC2 console when you need it.`,
    details: notes,
  };
}

async function running(ec2: Ec2Adapter, instanceId: string) {
  try {
    return await ec2.getRunning(instanceId);
  } catch (err) {
    if ((err as { name?: string })?.name === 'InvalidInstanceID.NotFound') return null;
    throw err;
  }
}

/** The Lambda entry point. */
export const handler = createActionsHandler({ clock: () => new Date(), env: process.env });
