import type { Ec2Adapter } from '../aws/ec2.js';
import {
  formatLocalTime,
  KEEP_HOURS,
  keepUntil,
  type LinkClaims,
  type LinkRejection,
  type LinkVerdict,
  type StaleLink,
  staleLink,
  verifyLink,
} from '../core/action-links.js';
import { type ActionPage, renderActionPage } from '../core/action-page.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { SigningKeyStore } from '../aws/signing-key.js';
import { findProtection, parseSnooze } from '../core/evaluate.js';
import type { Instance } from '../core/instance.js';
import type { Policy } from '../core/policy.js';
import { clearWarnings, stopResources } from './enforce.js';

/** The stop-reason tag of an instance stopped through a link. */
export const STOP_REASON_LINK = 'stopped via link by the owner';

/** What answering a verified link needs. */
export interface AnswerLinkDeps {
  /** EC2 of the link's region. */
  ec2: Pick<Ec2Adapter, 'getRunning' | 'isStopProtected' | 'tag' | 'untag' | 'stop'>;
  policy: Policy;
  now: Date;
}

const ACTION_LABEL: Record<LinkClaims['action'], string> = {
  keep4h: `Keep it running ${KEEP_HOURS} more hours`,
  keepTomorrow: 'Keep it running until tomorrow',
  stop: 'Stop it now',
};

/** The outcome of checkLink(): the claims of a link to answer, or the page that refuses it. */
export type LinkCheck =
  | { ok: true; claims: LinkClaims }
  | { ok: false; reason: LinkRejection | 'wrong-account'; page: ActionPage };

const REJECTION_STATUS: Record<LinkRejection, number> = {
  malformed: 400,
  outdated: 410,
  'wrong-key': 403,
  tampered: 403,
  expired: 410,
};

const REJECTION_HINT: Record<LinkRejection, string> = {
  malformed: 'Use the link exactly as it is in the warning email.',
  outdated:
    'cost-watchdog was updated after this warning was sent. Links in a warning work for 24 hours; a newer warning has fresh links.',
  'wrong-key':
    'Links are refused once the signing key is replaced or deleted. A newer warning has fresh links.',
  tampered: 'Use the link exactly as it is in the warning email.',
  expired: 'Links in a warning work for 24 hours. A newer warning has fresh links.',
};

/**
 * Checks a token against the signing key (undefined: none exists, so no link is valid) and the stack's
 * account. Pure: nothing about the instance is looked up until a link passes.
 */
export function checkLink(token: string, key: string | undefined, account: string, now: Date): LinkCheck {
  const verdict: LinkVerdict = key
    ? verifyLink(token, key, now)
    : {
        ok: false,
        reason: 'wrong-key',
        message: 'no signing key exists (none was made yet, or it was deleted to revoke every link)',
      };
  if (!verdict.ok) {
    const expired = verdict.reason === 'expired' || verdict.reason === 'outdated';
    return {
      ok: false,
      reason: verdict.reason,
      page: {
        status: REJECTION_STATUS[verdict.reason],
        tone: 'refused',
        title: expired ? 'This link has expired' : 'This link is not valid',
        message: `${verdict.message.charAt(0).toUpperCase()}${verdict.message.slice(1)}. Nothing was changed.`,
        details: [
          `${REJECTION_HINT[verdict.reason]} When you are done with the instance, stop it in the EC2 console.`,
        ],
      },
    };
  }
  if (verdict.claims.account !== account) {
    return {
      ok: false,
      reason: 'wrong-account',
      page: {
        status: 403,
        tone: 'refused',
        title: 'Wrong account',
        message: `This link is for AWS account ${verdict.claims.account}; this cost-watchdog acts in ${account} only. Nothing was changed.`,
      },
    };
  }
  return { ok: true, claims: verdict.claims };
}

/**
 * Answers a verified link: reads the instance, checks that the link still answers the warning it carries
 * (and, for "keep until tomorrow", that the time is ahead), then shows the confirmation (`confirmed` false:
 * GET) or acts (`confirmed` true: the button's POST). A link whose warning is gone changes nothing and says so.
 */
export async function answerLink(
  claims: LinkClaims,
  token: string,
  confirmed: boolean,
  deps: AnswerLinkDeps,
): Promise<ActionPage> {
  const instance = await deps.ec2.getRunning(claims.instanceId);
  if (!instance) return notRunning(claims);
  const stale = staleLink(claims, instance, deps.now);
  if (stale) return stalePage(stale, claims, deps.policy);
  if (!confirmed) return confirmation(claims, token, deps.policy, deps.now);
  return claims.action === 'stop'
    ? stopInstance(claims, instance, deps)
    : keepInstance(claims, instance, deps);
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

/** What a link whose warning is gone says: what happened, that nothing changed, and what to do instead. */
function stalePage(why: StaleLink, claims: LinkClaims, policy: Policy): ActionPage {
  const id = claims.instanceId;
  const warned = formatLocalTime(new Date(claims.warnedAt * 1000), policy.timeZone);
  const noWarningNow =
    'cost-watchdog will not stop it without warning you again first, and a new warning brings new links. When you are done with it, stop it yourself in the EC2 console.';
  if (why === 'keep-time-passed') {
    const until = formatLocalTime(new Date((claims.until ?? 0) * 1000), policy.timeZone);
    return {
      status: 410,
      tone: 'refused',
      title: 'This time has passed',
      message: `This link would keep ${id} running until ${until}, which has passed. Nothing was changed.`,
      details: [
        `Use "${ACTION_LABEL.keep4h}" in the same warning instead, or stop the instance in the EC2 console when you are done with it.`,
      ],
    };
  }
  const what: Record<Exclude<StaleLink, 'keep-time-passed'>, string> = {
    'no-warning': `The warning of ${warned} about ${id} no longer exists: it was already answered (a keep or stop link was used), cleared because the instance was used again, or the instance was stopped since. Nothing was changed.`,
    'other-warning': `The warning of ${warned} about ${id} was replaced by a newer warning. Nothing was changed.`,
    restarted: `The warning of ${warned} about ${id} no longer counts: the instance was stopped and started again since. Nothing was changed.`,
  };
  return {
    status: 410,
    tone: 'refused',
    title: 'This warning no longer exists',
    message: what[why],
    details: [why === 'other-warning' ? 'Use the links in the newest warning email.' : noWarningNow],
  };
}

async function keepInstance(
  claims: LinkClaims,
  instance: Instance,
  deps: AnswerLinkDeps,
): Promise<ActionPage> {
  const { ec2, policy, now } = deps;
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
  const cleared = await clearWarnings(ec2, [claims.instanceId]);
  return {
    status: 200,
    tone: 'done',
    title: 'Kept running',
    message: `${claims.instanceId} will not be stopped before ${formatLocalTime(until, policy.timeZone)}.`,
    details: [
      `Tag ${policy.tags.exempt}=${until.toISOString()} was set. Stop it yourself when you are done: a stopped instance costs only its disk.`,
      ...(cleared.errors.length === 0
        ? []
        : ['(The old warning tag could not be removed; the snooze still applies.)']),
    ],
  };
}

async function stopInstance(
  claims: LinkClaims,
  instance: Instance,
  deps: AnswerLinkDeps,
): Promise<ActionPage> {
  const { ec2, policy, now } = deps;
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
  const stop = await stopResources(
    ec2,
    [
      {
        instanceId: claims.instanceId,
        hibernate: instance.hibernationConfigured === true,
        reason: STOP_REASON_LINK,
      },
    ],
    { by: 'link', now },
  );
  const failedStop = stop.errors.find((e) => e.operation === 'StopInstances');
  if (failedStop || stop.stopped.length + stop.alreadyStopped.length === 0) {
    return {
      status: 502,
      tone: 'refused',
      title: 'Not stopped',
      message: `${claims.instanceId} could not be stopped: ${failedStop?.message ?? 'unknown error'}. Nothing else was changed.`,
    };
  }
  const notes = stop.errors.some((e) => e.operation.startsWith('CreateTags'))
    ? ['(The stop-reason tag could not be written; the instance is stopping anyway.)']
    : [];
  return {
    status: 200,
    tone: 'done',
    title: 'Stopping',
    message: `${claims.instanceId} is ${instance.hibernationConfigured ? 'hibernating' : 'stopping'}. Nothing was deleted; start it again from the EC2 console when you need it.`,
    details: notes,
  };
}

/** A Lambda function URL request (payload format 2.0), as far as the links read it. */
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

/** What answering requests to the actions URL needs (built once per container by the handler). */
export interface LinkRequestDeps {
  policy: Policy;
  /** The stack's account: links for any other account are refused. */
  account: string;
  keys: Pick<SigningKeyStore, 'read'>;
  /** EC2 of a region. */
  ec2: (region: string) => AnswerLinkDeps['ec2'];
  log: Logger;
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
 * Answers one request to the actions URL. GET shows what a valid link will do and a button; only the button's POST
 * changes anything (mail scanners that open every link in an email must not snooze or stop instances). Every
 * request is verified first: a malformed, outdated, tampered, expired or foreign-key link gets a page saying why and
 * no EC2 call is made. A valid link acts only while the instance still carries the warning it answers.
 */
export async function answerLinkRequest(
  raw: unknown,
  deps: LinkRequestDeps,
  now: Date,
): Promise<FunctionUrlResponse> {
  const { log } = deps;
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

  const token = tokenOf(event, method);
  if (!token) {
    return respond({
      status: 400,
      tone: 'refused',
      title: 'No link',
      message: 'This address only works with a link from a cost-watchdog warning. Nothing was changed.',
    });
  }

  let key: string | undefined;
  try {
    key = await deps.keys.read();
  } catch (err) {
    log({ level: 'error', message: `actions: signing key unavailable: ${describeError(err)}` });
    return respond({
      status: 503,
      tone: 'refused',
      title: 'Try again later',
      message: 'The link could not be checked just now. Nothing was changed.',
    });
  }
  const checked = checkLink(token, key, deps.account, now);
  if (!checked.ok) {
    log({ level: 'warn', message: `actions: link refused (${checked.reason})`, reason: checked.reason });
    return respond(checked.page);
  }
  const claims = checked.claims;
  try {
    const page = await answerLink(claims, token, method === 'POST', {
      ec2: deps.ec2(claims.region),
      policy: deps.policy,
      now,
    });
    log({
      level: 'info',
      message: `actions: ${method} ${claims.action} ${claims.instanceId}: ${page.title}`,
      instanceId: claims.instanceId,
      region: claims.region,
      action: claims.action,
      method,
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
}
