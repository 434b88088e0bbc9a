import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { zoneOffsetAt } from './local-time.js';
import { MIN_KEY_BYTES } from './names.js';
import type { ResourceKind } from './names.js';
import { isKnownRegion, TAGS } from './policy.js';

export { formatLocalTime } from './local-time.js';

/**
 * Signed action links ("keep it running 4 more hours", "keep it until tomorrow 09:00", "stop it now") in
 * warnings. Pure: the key and the clock are arguments. A token is `v2.<payload>.<signature>`: the payload is
 * base64url of a JSON object with short keys in a fixed order, the signature base64url of HMAC-SHA256(key, "v2." +
 * payload). The signature covers the exact bytes sent, so nothing is re-serialised before it is checked.
 * v2 added the warning a link answers (`w`); v1 links are refused as outdated (they expired within 24 hours).
 * A link about a notebook or database carries its kind (`y`, after every older field, so an EC2 link signs the same
 * bytes as before): a v2 link without one is about an EC2 instance, as every link was before notebooks and databases.
 */

/** What a link asks for. */
export type LinkAction = 'keep4h' | 'keepTomorrow' | 'stop';

/** Every link action, in the order warnings list them. */
export const LINK_ACTIONS: readonly LinkAction[] = ['keep4h', 'keepTomorrow', 'stop'];

/** How long "keep it running 4 more hours" keeps it, counted from the click. */
export const KEEP_HOURS = 4;

/** Local time of day "keep it until tomorrow" means, in the policy's time zone. */
export const KEEP_UNTIL_LOCAL_TIME = { hour: 9, minute: 0 } as const;

/** How long a link in a warning stays valid. */
export const LINK_VALIDITY_MS = 24 * 3_600_000;

export { MIN_KEY_BYTES } from './names.js';

const VERSION = 'v2';

/** Token versions that were once sent and are now refused with a page that says so. */
const OUTDATED_VERSIONS: readonly string[] = ['v1'];

/** What a link says, once its signature is checked. */
export interface LinkClaims {
  /** Key id: which signing key made it (a short hash of the key), so a rotated key is told apart. */
  kid: string;
  instanceId: string;
  region: string;
  account: string;
  action: LinkAction;
  /**
   * The warning the link answers: its `cost-watchdog:warned-at` time, epoch seconds. The link does nothing
   * unless the instance still carries that warning.
   */
  warnedAt: number;
  /** Expiry, epoch seconds. The link is valid up to and including this second. */
  exp: number;
  /** keepTomorrow only: the snooze end fixed when the warning was written, epoch seconds. */
  until?: number;
  /** What the link is about when it is not an EC2 instance: a notebook instance, a DB instance or cluster. */
  kind?: LinkKind;
}

/** The kinds a link can name besides EC2 (absent = EC2). */
export type LinkKind = Exclude<ResourceKind, 'ec2'>;

/** What an id looks like per kind: EC2 ids, notebook instance names, DB instance / cluster identifiers. */
const ID_PATTERNS: Record<ResourceKind, RegExp> = {
  ec2: /^i-[0-9a-f]{8,17}$/,
  'sagemaker-notebook': /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/,
  'rds-instance': /^[a-zA-Z][a-zA-Z0-9-]{0,62}$/,
  'rds-cluster': /^[a-zA-Z][a-zA-Z0-9-]{0,62}$/,
};

const claimsSchema = z
  .object({
    kid: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    instanceId: z.string().max(63),
    region: z.string().refine(isKnownRegion),
    account: z.string().regex(/^\d{12}$/),
    action: z.enum(['keep4h', 'keepTomorrow', 'stop']),
    warnedAt: z.number().int().positive(),
    exp: z.number().int().positive(),
    until: z.number().int().positive().optional(),
    kind: z.enum(['sagemaker-notebook', 'rds-instance', 'rds-cluster']).optional(),
  })
  .strict()
  .refine((c) => ID_PATTERNS[c.kind ?? 'ec2'].test(c.instanceId), {
    path: ['instanceId'],
    message: 'not an id of its kind',
  });

/** Short field names on the wire (links in plain-text email should stay short), in signing order. */
const WIRE = [
  ['kid', 'k'],
  ['instanceId', 'i'],
  ['region', 'r'],
  ['account', 'a'],
  ['action', 'x'],
  ['warnedAt', 'w'],
  ['exp', 'e'],
  ['until', 'u'],
  ['kind', 'y'],
] as const;

/** Why a link was not accepted. */
export type LinkRejection = 'malformed' | 'outdated' | 'wrong-key' | 'tampered' | 'expired';

/** The outcome of verifyLink(). Claims of a rejected link are never returned: nothing unsigned is trusted. */
export type LinkVerdict =
  | { ok: true; claims: LinkClaims }
  | { ok: false; reason: LinkRejection; message: string; expiredAt?: Date };

/** The short id of a signing key (first 12 bytes of its SHA-256, base64url). */
export function keyId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest().subarray(0, 12).toString('base64url');
}

function assertKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') < MIN_KEY_BYTES) {
    throw new Error(`signing key is shorter than ${MIN_KEY_BYTES} bytes; refusing to sign or verify with it`);
  }
}

function mac(key: string, signed: string): Buffer {
  return createHmac('sha256', key).update(signed, 'utf8').digest();
}

/** Serialises claims with short names in a fixed order (the canonical form that is signed). */
function canonical(claims: LinkClaims): string {
  const wire: Record<string, unknown> = {};
  for (const [name, short] of WIRE) if (claims[name] !== undefined) wire[short] = claims[name];
  return JSON.stringify(wire);
}

/** The claims of a decoded payload, by their long names; unknown fields are kept so the schema rejects them. */
function fromWire(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[WIRE.find(([, short]) => short === k)?.[0] ?? `unknown:${k}`] = v;
  return out;
}

/** Signs claims (without `kid`, which comes from the key) into a token for a link. */
export function signLink(claims: Omit<LinkClaims, 'kid'>, key: string): string {
  assertKey(key);
  const full: LinkClaims = { kid: keyId(key), ...claims };
  const parsed = claimsSchema.safeParse(full);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`cannot sign link: ${issue?.path.join('.') ?? 'claims'} is invalid (${issue?.message})`);
  }
  const payload = Buffer.from(canonical(full), 'utf8').toString('base64url');
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${mac(key, signed).toString('base64url')}`;
}

/**
 * Checks a token at time `now`: well-formed, made with this key, unchanged, and not expired, in that order.
 * The signature is compared in constant time. Only a fully valid link returns its claims.
 */
export function verifyLink(token: string, key: string, now: Date): LinkVerdict {
  assertKey(key);
  const reject = (reason: LinkRejection, message: string): LinkVerdict => ({ ok: false, reason, message });
  if (token.length === 0 || token.length > 2048) return reject('malformed', 'the link is empty or too long');
  const parts = token.split('.');
  const [version, payload, signature] = parts;
  if (parts.length !== 3 || !version || !payload || !signature) {
    return reject('malformed', 'the link is incomplete (was it cut off when copied?)');
  }
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) {
    return reject('malformed', 'the link contains characters a cost-watchdog link never has');
  }
  if (OUTDATED_VERSIONS.includes(version)) {
    return reject('outdated', 'the link is from an earlier version of cost-watchdog and no longer works');
  }
  if (version !== VERSION) return reject('malformed', 'the link is not one this cost-watchdog makes');
  let claims: LinkClaims;
  try {
    const parsed = claimsSchema.safeParse(
      fromWire(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))),
    );
    if (!parsed.success)
      return reject('malformed', 'the link does not carry a valid instance, region or action');
    claims = stripUndefined(parsed.data);
  } catch {
    return reject('malformed', 'the link cannot be read (was it cut off when copied?)');
  }
  if (claims.kid !== keyId(key)) {
    return reject('wrong-key', 'the link was signed with a different key (the signing key was replaced)');
  }
  const expected = mac(key, `${VERSION}.${payload}`);
  const given = Buffer.from(signature, 'base64url');
  // Only the canonical encoding counts (the last character carries 2 unused bits): one signature, one token.
  const canonicalSignature = given.toString('base64url') === signature;
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || !canonicalSignature) {
    return reject('tampered', 'the link was changed after it was sent');
  }
  if (Math.floor(now.getTime() / 1000) > claims.exp) {
    const expiredAt = new Date(claims.exp * 1000);
    return {
      ok: false,
      reason: 'expired',
      message: `the link expired at ${expiredAt.toISOString()}`,
      expiredAt,
    };
  }
  return { ok: true, claims };
}

function stripUndefined(data: z.infer<typeof claimsSchema>): LinkClaims {
  const { until, kind, ...rest } = data;
  return { ...rest, ...(until === undefined ? {} : { until }), ...(kind === undefined ? {} : { kind }) };
}

/** The three links of one warned instance, and when they stop working. */
export interface ActionLinks {
  keep4h: string;
  keepTomorrow: string;
  stop: string;
  /** ISO time after which the links are refused. */
  expiresAt: string;
  /** ISO time "keep it until tomorrow" keeps the instance until. */
  keepTomorrowUntil: string;
}

/** Inputs of buildActionLinks(). */
export interface ActionLinkInput {
  /** The actions function URL, e.g. https://abc.lambda-url.us-east-1.on.aws/ */
  baseUrl: string;
  key: string;
  instanceId: string;
  region: string;
  account: string;
  /** The warning the links answer: the instance's `cost-watchdog:warned-at` tag value (an ISO time). */
  warnedAt: string;
  /** A notebook or database; absent = an EC2 instance. */
  kind?: ResourceKind;
  now: Date;
  /** IANA time zone of "tomorrow 09:00" (the policy's timeZone). */
  timeZone: string;
  /**
   * "Keep until tomorrow" keeps it at least until this ISO time (the end of the quiet hours the warning is about),
   * when that is later than tomorrow 09:00.
   */
  keepAtLeastUntil?: string;
  validForMs?: number;
}

/**
 * Builds the signed keep / keep-until-tomorrow / stop links for one instance, valid for a day and bound to the
 * warning they answer. "Keep until tomorrow" means tomorrow 09:00, or the end of the quiet hours the warning is
 * about when that is later (a weekend), so that it keeps the instance running through them.
 */
export function buildActionLinks(input: ActionLinkInput): ActionLinks {
  const exp = Math.floor((input.now.getTime() + (input.validForMs ?? LINK_VALIDITY_MS)) / 1000);
  const atLeast = input.keepAtLeastUntil !== undefined ? Date.parse(input.keepAtLeastUntil) : Number.NaN;
  const until = Math.floor(
    Math.max(tomorrowAt(input.now, input.timeZone).getTime(), Number.isFinite(atLeast) ? atLeast : 0) / 1000,
  );
  const warnedAt = warningSeconds(input.warnedAt);
  if (warnedAt === null) {
    throw new Error(`cannot sign links: warnedAt "${input.warnedAt}" is not an ISO time`);
  }
  const base = {
    instanceId: input.instanceId,
    region: input.region,
    account: input.account,
    warnedAt,
    exp,
    ...(input.kind !== undefined && input.kind !== 'ec2' ? { kind: input.kind } : {}),
  };
  const url = (token: string) => {
    const u = new URL(input.baseUrl);
    u.searchParams.set('t', token);
    return u.toString();
  };
  return {
    keep4h: url(signLink({ ...base, action: 'keep4h' }, input.key)),
    keepTomorrow: url(signLink({ ...base, action: 'keepTomorrow', until }, input.key)),
    stop: url(signLink({ ...base, action: 'stop' }, input.key)),
    expiresAt: new Date(exp * 1000).toISOString(),
    keepTomorrowUntil: new Date(until * 1000).toISOString(),
  };
}

/** A `cost-watchdog:warned-at` tag value as epoch seconds (what links carry), or null when it is no time. */
export function warningSeconds(tag: string | undefined): number | null {
  if (tag === undefined) return null;
  const ms = Date.parse(tag);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : null;
}

/**
 * Why a valid link no longer applies to its instance:
 * - `no-warning`: the instance carries no warning (answered, cleared because it was used again, or a
 *   stop removed it);
 * - `other-warning`: it carries a different warning than the one the link answers (a newer one);
 * - `restarted`: the warning is from before the instance's last start, so it no longer counts;
 * - `keep-time-passed`: "keep until tomorrow" names a time that has passed.
 */
export type StaleLink = 'no-warning' | 'other-warning' | 'restarted' | 'keep-time-passed';

/** What a link is checked against: the instance as it is now. */
export interface LinkTarget {
  launchTime: string;
  tags: Readonly<Record<string, string | undefined>>;
}

/**
 * Whether a verified link still answers a warning the instance carries at `now` (its `warned-at` tag, to the
 * second, and not from before the last start), and for "keep until tomorrow" whether that time is still
 * ahead. Null when the link applies; else why not. Pure.
 */
export function staleLink(claims: LinkClaims, target: LinkTarget, now: Date): StaleLink | null {
  const current = warningSeconds(target.tags[TAGS.warnedAt]);
  if (current === null) return 'no-warning';
  if (current !== claims.warnedAt) return 'other-warning';
  const launch = Date.parse(target.launchTime);
  if (Number.isFinite(launch) && claims.warnedAt * 1000 < Math.floor(launch / 1000) * 1000)
    return 'restarted';
  if (
    claims.action === 'keepTomorrow' &&
    claims.until !== undefined &&
    claims.until * 1000 <= now.getTime()
  ) {
    return 'keep-time-passed';
  }
  return null;
}

/** When a valid keep link keeps the instance until, for a click at `now`. */
export function keepUntil(claims: LinkClaims, now: Date): Date {
  if (claims.action === 'keepTomorrow' && claims.until !== undefined) return new Date(claims.until * 1000);
  return new Date(now.getTime() + KEEP_HOURS * 3_600_000);
}

/** The instant of 09:00 on the day after `now`'s local date in `timeZone` (DST-aware). */
export function tomorrowAt(now: Date, timeZone: string, at = KEEP_UNTIL_LOCAL_TIME): Date {
  const today = new Date(now.getTime() + zoneOffsetAt(now.getTime(), timeZone));
  const wallClock = Date.UTC(
    today.getUTCFullYear(),
    today.getUTCMonth(),
    today.getUTCDate() + 1,
    at.hour,
    at.minute,
  );
  // Local wall-clock time -> instant: subtract the offset, then once more with the offset at that instant
  // (the two differ only when a DST change lies between now and tomorrow morning).
  let instant = wallClock - zoneOffsetAt(wallClock, timeZone);
  instant = wallClock - zoneOffsetAt(instant, timeZone);
  return new Date(instant);
}
