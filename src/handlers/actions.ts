import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { Ec2Adapter } from '../aws/ec2.js';
import { SIGNING_KEY_READ_PERMISSIONS, SigningKeyStore } from '../aws/signing-key.js';
import { type ActionPage, renderActionPage } from '../core/action-page.js';
import { describeError } from '../core/errors.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { Policy } from '../core/policy.js';
import { answerLink, checkLink } from '../jobs/answer-link.js';
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

export { STOP_REASON_LINK } from '../jobs/answer-link.js';

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
  keys?: Pick<SigningKeyStore, 'read'>;
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
 * instances). Every request is verified first: a malformed, outdated, tampered, expired or foreign-key link gets
 * a page saying why and no EC2 call is made. A valid link acts only while the instance still carries the
 * warning it answers (src/jobs/answer-link.ts).
 */
export function createActionsHandler(
  deps: ActionsHandlerDeps,
): (event: unknown) => Promise<FunctionUrlResponse> {
  const log = deps.log ?? jsonLogger;
  let ready:
    | {
        config: ActionsConfig;
        policy: Policy;
        keys: Pick<SigningKeyStore, 'read'>;
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

    let key: string | undefined;
    try {
      key = await keys.read();
    } catch (err) {
      log({ level: 'error', message: `actions: signing key unavailable: ${describeError(err)}` });
      return respond({
        status: 503,
        tone: 'refused',
        title: 'Try again later',
        message: 'The link could not be checked just now. Nothing was changed.',
      });
    }
    const checked = checkLink(token, key, config.account, now);
    if (!checked.ok) {
      log({ level: 'warn', message: `actions: link refused (${checked.reason})`, reason: checked.reason });
      return respond(checked.page);
    }
    const claims = checked.claims;
    try {
      const page = await answerLink(claims, token, method === 'POST', {
        ec2: ec2(claims.region),
        policy,
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
  };
}

/** The Lambda entry point. */
export const handler = createActionsHandler({ clock: () => new Date(), env: process.env });
