/**
 * The bounds on calls in flight (src/aws/clients.ts) that let the sweep overlap AWS calls without flooding AWS.
 */
import { describe, expect, it } from 'vitest';
import { aheadInOrder, limiter, mapBounded } from '../../src/aws/clients.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** fn, counting how many runs are unfinished at once. */
function counted<T, R>(fn: (x: T) => Promise<R>) {
  const stats = { running: 0, peak: 0 };
  const wrapped = async (x: T) => {
    stats.running++;
    stats.peak = Math.max(stats.peak, stats.running);
    try {
      return await fn(x);
    } finally {
      stats.running--;
    }
  };
  return { wrapped, stats };
}

describe('limiter', () => {
  it('runs at most `limit` at once, in the order asked, and passes results and errors through', async () => {
    const run = limiter(3);
    const started: number[] = [];
    const { wrapped, stats } = counted(async (k: number) => {
      started.push(k);
      await sleep(5 + (k % 3));
      if (k === 4) throw new Error('four');
      return k * 2;
    });

    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, k) => run(() => wrapped(k))));

    expect(stats.peak).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results[2]).toEqual({ status: 'fulfilled', value: 4 });
    expect(results[4]).toMatchObject({ status: 'rejected', reason: new Error('four') });
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9);
  });
});

describe('aheadInOrder', () => {
  it('works up to `ahead` items at once and hands the results over in input order', async () => {
    const { wrapped, stats } = counted(async (k: number) => {
      await sleep(20 - 2 * k);
      return `r${k}`;
    });

    const out: string[] = [];
    for await (const r of aheadInOrder([0, 1, 2, 3, 4, 5, 6, 7], 3, wrapped)) out.push(r);

    expect(out).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(stats.peak).toBe(3);
  });

  it('throws a failure in its turn, after the results before it, and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const out: number[] = [];
      const read = async () => {
        for await (const r of aheadInOrder([0, 1, 2, 3], 4, async (k) => {
          await sleep(k === 1 ? 1 : 10);
          if (k >= 1) throw new Error(`failed ${k}`);
          return k;
        }))
          out.push(r);
      };

      await expect(read()).rejects.toThrow('failed 1');
      await sleep(30);

      expect(out).toEqual([0]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('keeps mapBounded: input order, at most `limit` at once', async () => {
    const { wrapped, stats } = counted(async (k: number) => {
      await sleep(10 - k);
      return k;
    });

    expect(await mapBounded([0, 1, 2, 3, 4, 5], 2, wrapped)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stats.peak).toBe(2);
  });
});
