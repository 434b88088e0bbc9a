/**
 * The sweep's log line stays short enough for Lambda to pass it on whole (forLog), and `cost-watchdog status` reads
 * the run's outcome and errors back from it, at any fleet size; a line Lambda did cut still says the run had errors.
 */
import { describe, expect, it } from 'vitest';
import { lastRunFromLog } from '../../src/core/status.js';
import { forLog, LOG_LINE_BYTES, stopsNotListed, type SweepSummary } from '../../src/jobs/sweep-summary.js';

const AT = '2026-11-25T14:00:00.000Z';
const REQUEST = '0f0f0f0f-1111-4222-8333-444455556666';

/**
 * A summary of a sweep over `n` instances, each one decided (every 10th a stop, every other 4th a report), with
 * `errors` errors and `scopes` accounts (the middle one has the instances, the last one failed).
 */
function bigSummary(n: number, errors: number, scopes = 1001): SweepSummary {
  const id = (k: number) => `i-${k.toString(16).padStart(17, '0')}`;
  const action = (k: number) =>
    (k % 10 === 0 ? 'stop' : k % 4 === 0 ? 'report' : 'warn') as 'stop' | 'report' | 'warn';
  return {
    at: AT,
    dryRun: false,
    scopes: Array.from({ length: scopes }, (_, k) => ({
      region: 'us-east-1',
      account: String(100_000_000_000 + k),
      instances: k === Math.floor(scopes / 2) ? n : 0,
      ok: k !== scopes - 1,
    })),
    instancesSeen: n,
    decisions: Array.from({ length: n }, (_, k) => ({
      instanceId: id(k),
      region: 'us-east-1',
      action: action(k),
      rule: 'idle' as const,
      reasons: ['idle: CPU avg 1.0% (limit 5%), network 0.05 MB (limit 5 MB) over 2 h', `warned at ${AT}`],
      protection: null,
    })),
    warned: Array.from({ length: n }, (_, k) => id(k)).filter((_, k) => action(k) === 'warn'),
    stopped: [],
    cleared: [],
    postponed: [],
    errors: Array.from({ length: errors }, (_, k) => ({
      region: 'us-east-1',
      instanceId: id(k * 10),
      operation: 'ec2:StopInstances',
      message: 'UnauthorizedOperation: not allowed',
    })),
    alertsSent: 3,
  };
}

/** The line as the handler logs it and Lambda stores it. */
const lineOf = (report: unknown, errors: number) =>
  `${AT}\t${REQUEST}\tERROR\t${JSON.stringify({ time: AT, level: 'error', message: `sweep: 10000 seen, 0 warned, 0 stopped, ${errors} errors`, report })}`;

describe('the sweep log line', () => {
  it('is the whole summary when it fits', () => {
    const small = bigSummary(20, 1, 3);

    expect(forLog(small)).toBe(small);
  });

  it('fits in the bytes Lambda passes on whole for 10,000 decisions, 300 errors and 1,001 scopes', () => {
    // Prepare
    const summary = bigSummary(10_000, 300);

    // Act
    const logged = forLog(summary);

    // Assess: within the budget; stops first, in sweep order; every left-out part counted
    expect(Buffer.byteLength(lineOf(logged, 300))).toBeLessThanOrEqual(LOG_LINE_BYTES + 200);
    expect(Buffer.byteLength(JSON.stringify(summary))).toBeGreaterThan(20 * LOG_LINE_BYTES);
    expect(logged.decisions.length).toBeGreaterThan(50);
    expect(logged.decisions.every((d) => d.action === 'stop')).toBe(true);
    expect(logged.decisions.map((d) => d.instanceId)).toEqual(
      summary.decisions
        .filter((d) => d.action === 'stop')
        .map((d) => d.instanceId)
        .slice(0, logged.decisions.length),
    );
    expect(logged.decisionCounts).toEqual({ stop: 1_000, report: 2_000, warn: 7_000 });
    expect(logged.notListed).toEqual({
      decisions: 10_000 - logged.decisions.length,
      errors: 250,
      scopes: 901,
      warned: 6_800,
    });
    expect(logged.errors).toEqual(summary.errors.slice(0, 50));
    // The scope that failed and the one with instances are named first
    expect(logged.scopes.slice(0, 2).map((s) => [s.ok, s.instances])).toEqual([
      [false, 0],
      [true, 10_000],
    ]);
    expect(logged.instancesSeen).toBe(10_000);
  });

  it('leaves no stop out of the log: the stops the line cannot name go in lines of their own, in order', () => {
    // Prepare: 10,000 decisions of which 1,000 stops, more than one line names
    const summary = bigSummary(10_000, 0);
    const logged = forLog(summary);

    // Act
    const lines = stopsNotListed(summary, logged);

    // Assess
    const stops = summary.decisions.filter((d) => d.action === 'stop');
    expect(logged.decisions.length).toBeLessThan(stops.length);
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines)
      expect(
        Buffer.byteLength(JSON.stringify({ message: 'sweep-stops: 1 of 9', decisions: line })),
      ).toBeLessThanOrEqual(LOG_LINE_BYTES);
    expect([...logged.decisions, ...lines.flat()].map((d) => d.instanceId)).toEqual(
      stops.map((d) => d.instanceId),
    );
    const small = bigSummary(20, 0, 3);
    expect(stopsNotListed(small, forLog(small))).toEqual([]);
  });

  it('tells status the outcome and the errors, with how many more there were', () => {
    const logged = forLog(bigSummary(10_000, 300));

    const run = lastRunFromLog([{ timestamp: Date.parse(AT), message: lineOf(logged, 300) }], 'sweep');

    expect(run?.outcome).toBe('errors');
    expect(run?.summary).toBe('10000 seen, 0 warned, 0 stopped, 300 errors');
    expect(run?.errors).toHaveLength(51);
    expect(run?.errors[0]).toBe(
      'us-east-1 i-00000000000000000 ec2:StopInstances: UnauthorizedOperation: not allowed',
    );
    expect(run?.errors[50]).toBe('and 250 more errors: npx serverless logs -f sweep');
  });

  it('still says the run had errors when Lambda cut a long line of an older sweep into pieces', () => {
    // Prepare: the first 64 KiB of a whole summary's line, as Lambda passes on a longer one
    const whole = lineOf(bigSummary(10_000, 300), 300);
    const piece = whole.slice(0, 65_536);

    // Act
    const run = lastRunFromLog([{ timestamp: Date.parse(AT), message: piece }], 'sweep');

    // Assess
    expect(run?.outcome).toBe('errors');
    expect(run?.summary).toBe('10000 seen, 0 warned, 0 stopped, 300 errors');
    expect(run?.errors).toEqual(['300 errors, not readable from the log line: npx serverless logs -f sweep']);
  });
});
