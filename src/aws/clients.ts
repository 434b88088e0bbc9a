import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * Where and as whom to call AWS. One config path for every SDK client: `endpoint` (the CLI's --endpoint-url,
 * else the standard AWS_ENDPOINT_URL variable the SDK reads itself) points all clients at an emulator.
 */
export interface AwsTarget {
  region: string;
  /** Account id, when the credentials are for another account (multi-account sweeps). */
  account?: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  endpoint?: string;
  /** Set when the target cannot be reached (e.g. AssumeRole failed): the sweep reports it as a failed scope. */
  unavailable?: { operation: string; message: string };
}

/** SDK client configuration for a target: region, credentials, endpoint, adaptive retries for throttling. */
export function clientConfig(target: AwsTarget): {
  region: string;
  maxAttempts: number;
  retryMode: string;
  endpoint?: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
} {
  return {
    region: target.region,
    maxAttempts: 5,
    retryMode: 'adaptive',
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.credentials ? { credentials: target.credentials } : {}),
  };
}

/** Runs `fn` over `items` with at most `limit` running at once; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

/** Splits a list into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
