import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { AwsAccessError, describeError, printable } from '../core/errors.js';
import { type AwsTarget, clientConfig } from './clients.js';

/** Who the credentials are, as sts:GetCallerIdentity says (a call that needs no IAM permission). */
export interface CallerIdentity {
  account: string;
  arn: string;
}

/** Error names and codes of "AWS does not accept these credentials" (wrong key, wrong signature, wrong region). */
const REJECTED = new Set([
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'IncompleteSignature',
  'AuthFailure',
  'InvalidAccessKeyId',
  'MissingAuthenticationToken',
]);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired']);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

function nameOf(err: unknown): string {
  if (!(err instanceof Error)) return '';
  const e = err as Error & { code?: string; Code?: string };
  return e.name !== 'Error' ? e.name : (e.code ?? e.Code ?? '');
}

/** The system error code of a network failure (the SDK wraps some: look at the cause too). */
function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK.has(code)) return code;
    const inMessage =
      /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\b/.exec(e.message);
    if (inMessage?.[1]) return inMessage[1];
  }
  return undefined;
}

/**
 * Turns a failure to reach or authenticate with AWS into one AwsAccessError whose message says what is wrong and
 * the fix; undefined for any other error (a throttle, a service fault: those are not about access).
 */
export function classifyAccessError(err: unknown, target: AwsTarget): AwsAccessError | undefined {
  const name = nameOf(err);
  const detail = describeError(err);
  // The SDK also takes the endpoint from AWS_ENDPOINT_URL by itself.
  const endpoint = target.endpoint ?? process.env.AWS_ENDPOINT_URL;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(detail)) {
    if (/sso|token/i.test(detail) && /expired|refresh|invalid/i.test(detail)) {
      return new AwsAccessError(
        'expired',
        'your AWS SSO session has expired: run `aws sso login` (with --profile NAME if you use one), then try again',
        { cause: err },
      );
    }
    if (/profile/i.test(detail) && /not.*found|could not be found|parsed/i.test(detail)) {
      return new AwsAccessError(
        'no-credentials',
        `${detail.replace(/^CredentialsProviderError: /, '')}: check --profile / AWS_PROFILE against ~/.aws/config (aws configure list-profiles)`,
        { cause: err },
      );
    }
    const profile = process.env.AWS_PROFILE;
    return new AwsAccessError(
      'no-credentials',
      profile
        ? `no AWS credentials for the profile "${printable(profile)}": check its name (aws configure list-profiles), or run \`aws sso login --profile ${printable(profile)}\``
        : 'no AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile NAME',
      { cause: err },
    );
  }
  if (EXPIRED.has(name) || /security token .* expired|token has expired/i.test(detail)) {
    return new AwsAccessError(
      'expired',
      'your AWS session has expired: get new credentials (`aws sso login`, or a new session token) and try again',
      { cause: err },
    );
  }
  if (name === 'RequestExpired' || /Signature expired|request has expired/i.test(detail)) {
    return new AwsAccessError(
      'clock',
      "AWS refused the request as too old or too new: set this computer's clock right (enable network time sync)",
      { cause: err },
    );
  }
  if (REJECTED.has(name)) {
    return new AwsAccessError(
      'rejected',
      `AWS does not accept these credentials in ${target.region} (${name}): check the access key (aws configure list), ` +
        `or enable the region if it is an opt-in one (console: Account > AWS Regions), or use another --region`,
      { cause: err },
    );
  }
  if (name === 'OptInRequired') {
    return new AwsAccessError(
      'region',
      `region ${target.region} is not enabled for this account: enable it (console: Account > AWS Regions) or use another --region`,
      { cause: err },
    );
  }
  const network = networkCode(err) ?? (name === 'TimeoutError' ? 'timed out' : undefined);
  if (network) {
    return new AwsAccessError(
      'unreachable',
      endpoint
        ? `cannot reach ${endpoint} (${network}): is the emulator running? Check --endpoint-url / AWS_ENDPOINT_URL`
        : `cannot reach AWS in ${target.region} (${network}): check the network, proxy (HTTPS_PROXY) and --region`,
      { cause: err },
    );
  }
  return undefined;
}

/**
 * Checks once, before a command's first real call, that AWS can be reached and accepts the credentials
 * (sts:GetCallerIdentity in the home region). Throws AwsAccessError (one line with the fix) when not.
 */
export async function checkAwsAccess(target: AwsTarget, sts?: STSClient): Promise<CallerIdentity> {
  const client =
    sts ??
    new STSClient({
      ...clientConfig(target),
      // A first check, not a run: fail within seconds rather than after the full retry budget.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
    });
  try {
    const res = await client.send(new GetCallerIdentityCommand({}));
    return { account: res.Account ?? 'unknown', arn: res.Arn ?? 'unknown' };
  } catch (err) {
    throw (
      classifyAccessError(err, target) ??
      new AwsAccessError('failed', `cannot check the AWS credentials: ${describeError(err)}`, { cause: err })
    );
  } finally {
    if (!sts) client.destroy();
  }
}
