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

/**
 * Time limits of one AWS request attempt. A hung connection fails as a (retried) TimeoutError instead of holding
 * the sweep until the Lambda timeout: 5 attempts x 20 s stays well under the function's 300 s. Without
 * throwOnRequestTimeout the SDK's handler only logs a warning when requestTimeout passes and keeps waiting.
 */
export const REQUEST_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 20_000,
  throwOnRequestTimeout: true,
} as const;

/**
 * SDK client configuration for a target: region, credentials, endpoint, adaptive retries for throttling and
 * 5xx, and per-attempt timeouts.
 */
export function clientConfig(target: AwsTarget): {
  region: string;
  maxAttempts: number;
  retryMode: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: boolean };
  endpoint?: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
} {
  return {
    region: target.region,
    maxAttempts: 5,
    retryMode: 'adaptive',
    requestHandler: { ...REQUEST_TIMEOUTS },
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

/**
 * A bound on work in flight: `run(fn)` starts `fn` at once while fewer than `limit` runs are unfinished, else
 * when one finishes (first come, first served).
 */
export function limiter(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <R>(fn: () => Promise<R>): Promise<R> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/**
 * `fn` over `items`, started up to `ahead` items beyond the one the consumer is waiting for, results handed over
 * in input order. A failure is thrown when its turn comes; work started after it is left to finish unread.
 */
export async function* aheadInOrder<T, R>(
  items: readonly T[],
  ahead: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const started: Promise<R>[] = [];
  let next = 0;
  const fill = () => {
    while (next < items.length && started.length < Math.max(1, ahead)) {
      const p = fn(items[next++] as T);
      // Read in turn below; a failure after one that ends the stream is never read, and must not go unhandled.
      p.catch(() => undefined);
      started.push(p);
    }
  };
  fill();
  while (started.length > 0) {
    const result = await (started.shift() as Promise<R>);
    fill();
    yield result;
  }
}

/** One resource's outcome of a per-resource call (tag, untag, stop) in an adapter without batch APIs. */
export interface PerResourceResult {
  instanceId: string;
  ok: boolean;
  error?: string;
}

/**
 * Calls `call` once per id, `limit` at a time: one failing resource never fails the others (its error is its
 * result). For services that tag and stop one resource per call (SageMaker, RDS).
 */
export async function perResource<R extends object>(
  ids: readonly string[],
  limit: number,
  call: (id: string) => Promise<R | undefined>,
  describe: (err: unknown) => string,
): Promise<(PerResourceResult & Partial<R>)[]> {
  return mapBounded(ids, limit, async (id) => {
    try {
      const extra = await call(id);
      return { instanceId: id, ok: true, ...(extra ?? {}) } as PerResourceResult & Partial<R>;
    } catch (err) {
      return { instanceId: id, ok: false, error: describe(err) } as PerResourceResult & Partial<R>;
    }
  });
}
