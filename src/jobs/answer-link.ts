import type { SigningKeyStore } from '../aws/signing-key.js';
import {
  KEEP_HOURS,
  keepUntil,
  type LinkClaims,
  type LinkRejection,
  type LinkVerdict,
  type StaleLink,
  staleLink,
  verifyLink,
} from '../core/action-links.js';
import { type ActionPage, type PageFact, renderActionPage } from '../core/action-page.js';
import { describeError, shortError } from '../core/errors.js';
import { findProtection, parseSnooze } from '../core/evaluate.js';
import type { Instance, ResourceKind } from '../core/instance.js';
import { KIND_CONSOLES, KIND_NAMES } from '../core/kinds.js';
import { formatLocalTime, localizeTimes } from '../core/local-time.js';
import type { Logger } from '../core/log.js';
import { type Policy, TAGS } from '../core/policy.js';
import { quietPeriodFor } from '../core/quiet-hours.js';
import type { FleetPort } from '../core/ports.js';
import { parseRule, RULES } from '../core/rules.js';
import { clearWarnings, stopResources } from './enforce.js';

/** The stop-reason tag of an instance stopped through a link. */
export const STOP_REASON_LINK = 'stopped via link by the owner';

/**
 * The resources of one kind in one region as a link sees them: any state, with the state named as EC2 names it
 * (`running`, `stopping`, `stopped`; the SageMaker and RDS adapters translate InService / available).
 */
export type LinkFleet = Pick<FleetPort, 'isStopProtected' | 'tag' | 'untag' | 'stop'> & {
  describeInstance(instanceId: string): Promise<{ instance: Instance; state: string } | null>;
};

/** What answering a verified link needs. */
export interface AnswerLinkDeps {
  /** The fleet of the link's region and kind (EC2 unless the link names a notebook or database). */
  ec2: LinkFleet;
  policy: Policy;
  now: Date;
}

/** Where the owner stops or starts what a link is about themselves. */
function consoleOf(claims: LinkClaims): string {
  return KIND_CONSOLES[claims.kind ?? 'ec2'];
}

/** What a link's resource is called on its pages ("instance", "notebook", "database"). */
function nounOf(claims: LinkClaims): string {
  return KIND_NAMES[claims.kind ?? 'ec2'];
}

/**
 * What a request to a verified link asks for: `show` (GET: the confirmation, changes nothing), `act` (the
 * button's POST) or `done` (the GET a POST redirects to: the outcome, read from the instance; changes nothing).
 */
export type LinkMode = 'show' | 'act' | 'done';

const ACTION_LABEL: Record<'keep4h' | 'stop', string> = {
  keep4h: `Keep it running ${KEEP_HOURS} more hours`,
  stop: 'Stop it now',
};

/** What a student can always do instead of a link: stop it themselves, or ask the person who runs the class. */
const ASK = 'ask your instructor or administrator';

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

const NEWER_WARNING = `If the instance is still warned about, the newest warning email has fresh links; or ${ASK} to keep it running.`;

const REJECTION_HINT: Record<LinkRejection, string> = {
  malformed: `Open the link exactly as it is in the warning email (copy the whole link if your mail program split it). If it still fails, ${ASK}.`,
  outdated: `cost-watchdog was updated after this warning was sent. ${NEWER_WARNING}`,
  'wrong-key': `Links stop working when cost-watchdog's signing key is replaced. ${NEWER_WARNING}`,
  tampered: `Open the link exactly as it is in the warning email. If it still fails, ${ASK}.`,
  expired: `Links in a warning work for 24 hours. ${NEWER_WARNING}`,
};

const WHEN_DONE = 'When you are done with the instance, stop it yourself in the EC2 console.';

/** WHEN_DONE for what a verified link is about. */
function whenDone(claims: LinkClaims): string {
  return claims.kind
    ? `When you are done with the ${nounOf(claims)}, stop it yourself in ${consoleOf(claims)}.`
    : WHEN_DONE;
}

/**
 * Checks a token against the signing key (undefined: none exists, so no link is valid) and the stack's
 * account. Pure: nothing about the instance is looked up until a link passes. Times on the pages are in
 * `timeZone` (the policy's).
 */
export function checkLink(
  token: string,
  key: string | undefined,
  account: string,
  now: Date,
  timeZone = 'UTC',
): LinkCheck {
  const verdict: LinkVerdict = key
    ? verifyLink(token, key, now)
    : {
        ok: false,
        reason: 'wrong-key',
        message: 'no signing key exists (none was made yet, or it was deleted to revoke every link)',
      };
  if (!verdict.ok) {
    const expired = verdict.reason === 'expired' || verdict.reason === 'outdated';
    const message = verdict.expiredAt
      ? `the link expired at ${formatLocalTime(verdict.expiredAt, timeZone)}`
      : verdict.message;
    return {
      ok: false,
      reason: verdict.reason,
      page: {
        status: REJECTION_STATUS[verdict.reason],
        tone: 'refused',
        title: expired ? 'This link has expired' : 'This link is not valid',
        message: `${message.charAt(0).toUpperCase()}${message.slice(1)}. Nothing was changed.`,
        details: [REJECTION_HINT[verdict.reason], WHEN_DONE],
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
        details: [`Use the link from a warning about this account, or ${ASK}.`],
      },
    };
  }
  return { ok: true, claims: verdict.claims };
}

/** The URL a POST that acted redirects to: the same link, asking for its outcome. */
export function doneUrl(token: string): string {
  return `?t=${encodeURIComponent(token)}&done=1`;
}

/**
 * Answers a verified link: reads the instance, checks that the link still answers the warning it carries
 * (and, for "keep until tomorrow", that the time is ahead), then shows the confirmation (`show`), acts (`act`,
 * answered with a redirect to the outcome) or shows the outcome from the instance's state (`done`). A link whose
 * warning is gone changes nothing and says so, so a link acts at most once.
 */
export async function answerLink(
  claims: LinkClaims,
  token: string,
  mode: LinkMode,
  deps: AnswerLinkDeps,
): Promise<ActionPage> {
  const found = await deps.ec2.describeInstance(claims.instanceId);
  const instance = found?.state === 'running' ? found.instance : null;
  if (mode === 'done') {
    const outcome = doneOutcome(claims, found, deps);
    if (outcome) return outcome;
  }
  if (!instance) return notRunning(claims, found, deps.policy);
  const stale = staleLink(claims, instance, deps.now);
  if (stale) return stalePage(stale, claims, instance, deps.policy);
  if (mode !== 'act') return confirmation(claims, token, instance, deps.policy, deps.now);
  const { page, acted } =
    claims.action === 'stop'
      ? await stopInstance(claims, instance, deps)
      : await keepInstance(claims, instance, deps);
  // Only a POST that changed something is redirected to its outcome; a refusal is shown as it is.
  return acted ? { ...page, redirect: doneUrl(token) } : page;
}

/** A page, and whether the request changed the instance (then it is answered with a redirect). */
interface Answer {
  page: ActionPage;
  acted: boolean;
}

/** How the page's sentences name the instance: its Name tag (the facts below show the id), else the id. */
function labelOf(claims: LinkClaims, instance: Instance | undefined): string {
  const name = instance?.tags.Name?.trim();
  return name ? name : claims.instanceId;
}

/**
 * What the page shows about the instance: Name, id, region, type, owner, and for a warned instance the rule, why
 * it holds and when the stop is due (the rule from the instance's warning tag, the rest from the link's claims).
 */
function factsOf(
  claims: LinkClaims,
  instance: Instance | undefined,
  policy: Policy,
  now: Date,
  withWarning = true,
): PageFact[] {
  const facts: PageFact[] = [
    { label: 'Name', value: instance?.tags.Name ?? '' },
    { label: claims.kind ? 'Id' : 'Instance', value: claims.instanceId },
    { label: 'Region', value: claims.region },
    { label: 'Type', value: `${claims.kind ? `${nounOf(claims)} ` : ''}${instance?.instanceType ?? ''}` },
    { label: 'Owner', value: instance?.tags[policy.tags.owner] ?? '' },
  ];
  const rule = instance ? parseRule(instance.tags[TAGS.warnRule]) : null;
  if (withWarning && instance && rule) {
    const launch = Date.parse(instance.launchTime);
    const runningHours = Number.isFinite(launch) ? Math.max(0, now.getTime() - launch) / 3_600_000 : 0;
    // A quiet-hours warning: the quiet hours it was about, and its stop waits for their start.
    const quiet = rule === 'quiet-hours' ? quietPeriodFor(instance, policy, claims.warnedAt * 1000) : null;
    const measured = {
      runningHours,
      ...(quiet
        ? {
            quietHours: {
              start: new Date(quiet.start).toISOString(),
              end: new Date(quiet.end).toISOString(),
              timeZone: quiet.timeZone,
            },
          }
        : {}),
    };
    const why = RULES[rule].wording.why({ instanceType: instance.instanceType, measured }, policy);
    const due = Math.max(claims.warnedAt * 1000 + policy.graceMinutes * 60_000, quiet?.start ?? 0);
    facts.push(
      { label: 'Warned for', value: RULES[rule].wording.name },
      { label: 'Why', value: `${why.charAt(0).toUpperCase()}${why.slice(1)}.` },
      {
        label: 'Stop due',
        value: `after ${formatLocalTime(new Date(due), policy.timeZone)}`,
      },
    );
  }
  return facts;
}

function confirmation(
  claims: LinkClaims,
  token: string,
  instance: Instance,
  policy: Policy,
  now: Date,
): ActionPage {
  const label = labelOf(claims, instance);
  const facts = factsOf(claims, instance, policy, now);
  const expires = `This link works until ${formatLocalTime(new Date(claims.exp * 1000), policy.timeZone)}.`;
  if (claims.action === 'stop') {
    return {
      status: 200,
      tone: 'danger',
      title: `Stop ${instance.tags.Name ?? claims.instanceId} now?`,
      message: `${label} will be stopped: whatever runs on it ends now. It is stopped, never terminated: its disk stays and you can start it again from ${consoleOf(claims)}.`,
      facts,
      details: [expires],
      confirm: { label: 'Yes, stop it now', token },
    };
  }
  const until = formatLocalTime(keepUntil(claims, now), policy.timeZone);
  return {
    status: 200,
    tone: 'confirm',
    title: `Keep ${instance.tags.Name ?? claims.instanceId} running?`,
    message: `Keep ${label} running until ${until}? cost-watchdog will not stop it before then.`,
    facts,
    details: [expires],
    // The button names the time, as the email does: "until tomorrow" would be wrong for a snooze that quiet
    // hours carry to Monday morning.
    confirm: {
      label: claims.action === 'keep4h' ? ACTION_LABEL.keep4h : `Keep it running until ${until}`,
      token,
    },
  };
}

/**
 * The outcome a `done` request shows, read from the instance as it is now; null when the instance shows no sign
 * of the action (then the page is what a plain GET shows: the confirmation, or why the link no longer applies).
 */
function doneOutcome(
  claims: LinkClaims,
  found: { instance: Instance; state: string } | null,
  deps: AnswerLinkDeps,
): ActionPage | null {
  if (!found) return null;
  const { instance, state } = found;
  const { policy, now } = deps;
  const label = labelOf(claims, instance);
  const facts = factsOf(claims, instance, policy, now, false);
  if (claims.action === 'stop') {
    if (state !== 'stopping' && state !== 'stopped') return null;
    const verb =
      state === 'stopped' ? 'is stopped' : instance.hibernationConfigured ? 'is hibernating' : 'is stopping';
    return {
      status: 200,
      tone: 'done',
      title: state === 'stopped' ? 'Stopped' : 'Stopping',
      message: `${label} ${verb}. Nothing was deleted; start it again from ${consoleOf(claims)} when you need it.`,
      facts,
      details: ['A stopped instance costs only its disk.'],
    };
  }
  if (state !== 'running') return null;
  const protection = findProtection(instance, policy, now.getTime());
  if (protection?.kind === 'snoozed') {
    const until = parseSnooze((instance.tags[policy.tags.exempt] ?? '').trim());
    if (until === null) return null;
    return {
      status: 200,
      tone: 'done',
      title: 'Kept running',
      message: `${label} will not be stopped before ${formatLocalTime(new Date(until), policy.timeZone)}.`,
      facts,
      details: ['Stop it yourself when you are done: a stopped instance costs only its disk.'],
    };
  }
  return null;
}

function notRunning(
  claims: LinkClaims,
  found: { instance: Instance; state: string } | null,
  policy: Policy,
): ActionPage {
  const state = found ? ` (${found.state})` : '';
  return {
    status: 200,
    tone: 'done',
    title: 'Not running',
    message: `${labelOf(claims, found?.instance)} is not running${state || ' (stopped, stopping or gone)'}. Nothing was changed.`,
    facts: factsOf(claims, found?.instance, policy, new Date(0), false),
    details: [
      `cost-watchdog only acts on running ${nounOf(claims)}s. Start it again from ${consoleOf(claims)} when you need it.`,
    ],
  };
}

/** What a link whose warning is gone says: what happened, that nothing changed, and what to do instead. */
function stalePage(why: StaleLink, claims: LinkClaims, instance: Instance, policy: Policy): ActionPage {
  const id = labelOf(claims, instance);
  const facts = factsOf(claims, instance, policy, new Date(0), false);
  const warned = formatLocalTime(new Date(claims.warnedAt * 1000), policy.timeZone);
  const noWarningNow = `cost-watchdog will not stop it without warning you again first, and a new warning brings new links. ${whenDone(claims)}`;
  if (why === 'keep-time-passed') {
    const until = formatLocalTime(new Date((claims.until ?? 0) * 1000), policy.timeZone);
    return {
      status: 410,
      tone: 'refused',
      title: 'This time has passed',
      message: `This link would keep ${id} running until ${until}, which has passed. Nothing was changed.`,
      facts,
      details: [`Use "${ACTION_LABEL.keep4h}" in the same warning instead, or ${ASK}. ${whenDone(claims)}`],
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
    facts,
    details: [why === 'other-warning' ? 'Use the links in the newest warning email.' : noWarningNow],
  };
}

async function keepInstance(claims: LinkClaims, instance: Instance, deps: AnswerLinkDeps): Promise<Answer> {
  const { ec2, policy, now } = deps;
  const until = keepUntil(claims, now);
  const label = labelOf(claims, instance);
  const facts = factsOf(claims, instance, policy, now, false);
  const protection = findProtection(instance, policy, now.getTime());
  if (protection && protection.kind !== 'snoozed') {
    return {
      acted: false,
      page: {
        status: 200,
        tone: 'done',
        title: 'Never stopped',
        message: `${label} is never stopped by cost-watchdog: ${localizeTimes(protection.reason, policy.timeZone)}. Nothing was changed.`,
        facts,
      },
    };
  }
  const current = instance.tags[policy.tags.exempt];
  const snoozedUntil = current !== undefined ? parseSnooze(current.trim()) : null;
  if (snoozedUntil !== null && snoozedUntil >= until.getTime()) {
    return {
      acted: false,
      page: {
        status: 200,
        tone: 'done',
        title: 'Already kept',
        message: `${label} will not be stopped before ${formatLocalTime(new Date(snoozedUntil), policy.timeZone)}. Nothing was changed.`,
        facts,
      },
    };
  }
  const [tagged] = await ec2.tag([claims.instanceId], { [policy.tags.exempt]: until.toISOString() });
  if (!tagged?.ok) throw new Error(tagged?.error ?? 'CreateTags failed');
  // The warning is answered: a new one (and a new grace period) starts only after the snooze.
  const cleared = await clearWarnings(ec2, [claims.instanceId]);
  return {
    acted: true,
    page: {
      status: 200,
      tone: 'done',
      title: 'Kept running',
      message: `${label} will not be stopped before ${formatLocalTime(until, policy.timeZone)}.`,
      facts,
      details: [
        'Stop it yourself when you are done: a stopped instance costs only its disk.',
        ...(cleared.errors.length === 0
          ? []
          : ['(The old warning could not be removed; the keep still applies.)']),
      ],
    },
  };
}

async function stopInstance(claims: LinkClaims, instance: Instance, deps: AnswerLinkDeps): Promise<Answer> {
  const { ec2, policy, now } = deps;
  const label = labelOf(claims, instance);
  const facts = factsOf(claims, instance, policy, now, false);
  // The sweep's safety rules, on fresh facts: stop protection is only known by asking.
  instance.stopProtected = await ec2.isStopProtected(claims.instanceId);
  const protection = findProtection(instance, policy, now.getTime());
  if (protection) {
    return {
      acted: false,
      page: {
        status: 409,
        tone: 'refused',
        title: 'Not stopped',
        message: `${label} was not stopped: it is never stopped by cost-watchdog (${localizeTimes(protection.reason, policy.timeZone)}).`,
        facts,
        details: [`Stop it yourself in ${consoleOf(claims)} if you really mean to.`],
      },
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
      acted: false,
      page: {
        status: 502,
        tone: 'refused',
        title: 'Not stopped',
        message: `${label} could not be stopped (${shortError(failedStop?.message ?? 'unknown error')}). Nothing else was changed.`,
        facts,
        details: [`Try the link again in a minute, or stop it yourself in ${consoleOf(claims)}.`],
      },
    };
  }
  return {
    acted: true,
    page: {
      status: 200,
      tone: 'done',
      title: 'Stopping',
      message: `${label} is ${instance.hibernationConfigured ? 'hibernating' : 'stopping'}. Nothing was deleted; start it again from ${consoleOf(claims)} when you need it.`,
      facts,
    },
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
  /** The fleet of a region, of one kind (absent = EC2). */
  ec2: (region: string, kind?: ResourceKind) => AnswerLinkDeps['ec2'];
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
  const { redirect, ...shown } = page;
  if (redirect !== undefined) {
    // POST-redirect-GET: the browser fetches the outcome with a GET, so a refresh never posts the form again.
    return { statusCode: 303, headers: { ...HEADERS, location: redirect }, body: renderActionPage(shown) };
  }
  return { statusCode: page.status, headers: HEADERS, body: renderActionPage(page) };
}

/** Whether the request asks for the outcome of a POST (`done=1`, the redirect's target). */
function wantsOutcome(event: FunctionUrlEvent): boolean {
  const done =
    text(event.queryStringParameters?.done) ??
    new URLSearchParams(text(event.rawQueryString) ?? '').get('done') ??
    undefined;
  return done === '1';
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
 * changes anything (mail scanners that open every link in an email must not snooze or stop instances), and a POST
 * that acted answers 303 See Other to a GET of the outcome (`done=1`), which reads the instance and changes nothing,
 * so refreshing the result page never acts again. Every
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
      message: 'Open the link from the warning email. Nothing was changed.',
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
      details: [`Try the link again in a minute. ${WHEN_DONE}`],
    });
  }
  const checked = checkLink(token, key, deps.account, now, deps.policy.timeZone);
  if (!checked.ok) {
    log({ level: 'warn', message: `actions: link refused (${checked.reason})`, reason: checked.reason });
    return respond(checked.page);
  }
  const claims = checked.claims;
  try {
    const mode = method === 'POST' ? 'act' : wantsOutcome(event) ? 'done' : 'show';
    const page = await answerLink(claims, token, mode, {
      ec2: deps.ec2(claims.region, claims.kind),
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
      mode,
      status: page.redirect !== undefined ? 303 : page.status,
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
      message: `${claims.instanceId} could not be checked just now (${shortError(describeError(err))}). Nothing was changed.`,
      details: [`Try the link again in a minute. ${whenDone(claims)}`],
    });
  }
}
