/**
 * The fan-out's scale model (bench/fan-out-model.ts): waves, wall time, and the monthly bill from measured figures.
 * Arithmetic only; the figures it is fed by `npm run bench` are checked in bench-tables.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  type FanOutDeploymentFigures,
  type FanOutMeasured,
  fanOutModel,
  idlePollsPerMonth,
  waves,
} from '../../bench/fan-out-model.js';

const deployment: FanOutDeploymentFigures = {
  concurrency: 10,
  batchSize: 10,
  workerMemoryMB: 1024,
  sweepMemoryMB: 1024,
  sweepConcurrency: 4,
  settleMinutes: 12,
  summaryReaders: 5,
  schedule: 'rate(1 hour)',
  runsPerMonth: 730,
};

// 99 member accounts and the home account x 4 regions = 400 targets, as measured.
const measured: FanOutMeasured = {
  plannerTargets: 400,
  plannerMs: 1_000,
  readMs: 5_000,
  summaryMs: 2_000,
  plannerSqsBilled: 120,
  plannerLogBytes: 0,
  workerBatchMs: 3_000,
  workerColdExtraMs: 1_000,
  targetAloneMs: 2_000,
  workerSqsBilledPerTarget: 0.1,
  workerLogBytesPerTarget: 1_000,
};

describe('fan-out model', () => {
  it.each([
    [100, 1],
    [101, 2],
    [4_004, 41],
    [17_017, 171],
  ])('sweeps %i targets in %i waves of 10 invocations of 10 targets', (targets, expected) => {
    expect(waves(targets, 10, 10)).toBe(expected);
  });

  it('counts five pollers long-polling 20 s every hour of the month as idle requests', () => {
    expect(idlePollsPerMonth()).toBe(5 * 180 * 730);
    expect(idlePollsPerMonth(1, 10)).toBe(360 * 730);
  });

  it('adds planner, waves of warm batches, one cold start and summary into the wall time, reading during the workers', () => {
    const m = fanOutModel('99 x 4', 99, 4, deployment, measured);

    expect(m.targets).toBe(400);
    expect(m.waves).toBe(4);
    expect(m.workerInvocationsPerRun).toBe(40);
    expect(m.workersMs).toBe(4 * 3_000 + 1_000);
    // Reading the results (5 s) is done while the workers run (13 s).
    expect(m.wallMs).toBe(1_000 + 13_000 + 2_000);
    // One invocation at concurrency 4: 100 rounds of one target alone.
    expect(m.singleInvocationMs).toBe(100 * 2_000);
    expect(m.withinSettle).toBe(true);
    expect(m.meetsTime).toBe(true);
  });

  it('scales the planner and the summary with the targets', () => {
    const m = fanOutModel('99 x 17', 99, 17, deployment, measured);

    expect(m.targets).toBe(1_700);
    expect(m.plannerMs).toBe(4_250);
    expect(m.summaryMs).toBe(8_500);
    expect(m.waves).toBe(17);
  });

  it('adds the reading that outlasts the workers', () => {
    const m = fanOutModel('99 x 4', 99, 4, deployment, { ...measured, readMs: 20_000 });

    expect(m.wallMs).toBe(1_000 + 20_000 + 2_000);
  });

  it('bills SQS, Lambda and log ingestion at list price and after the free tiers', () => {
    const m = fanOutModel('99 x 4', 99, 4, deployment, measured);

    const q = m.sqsRequestsPerMonth;
    expect(q.plannerAndSummary).toBe(120 * 730);
    expect(q.workerResults).toBe(Math.round(0.1 * 400 * 730));
    expect(q.pollerWithMessages).toBe(2 * 40 * 730);
    expect(q.pollerIdle).toBe(657_000);
    // Five long polls of 20 s while the workers run 13 s: 3.25 requests a run.
    expect(q.summaryWaiting).toBe(Math.round(3.25 * 730));
    expect(q.total).toBe(Math.round(87_600 + 29_200 + 58_400 + 657_000 + 3.25 * 730));
    expect(m.lambdaInvocationsPerMonth).toBe(41 * 730);
    expect(m.gbSecondsPerMonth).toEqual({ workers: 40 * 3 * 730, sweep: 16 * 730 });
    const logGb = ((1_000 * 400 + 41 * 350) * 730) / 1e9;
    expect(m.logGbPerMonth).toBe(Math.round(logGb * 100) / 100);

    const byItem = Object.fromEntries(m.items.map((i) => [i.item, i]));
    expect(byItem['SQS requests']?.listUsd).toBe(0.33);
    expect(byItem['SQS requests']?.billedUsd).toBe(0);
    expect(byItem['Lambda GB-s']?.listUsd).toBe(Math.round((87_600 + 11_680) * 0.0000133334 * 100) / 100);
    expect(byItem['Lambda GB-s']?.billedUsd).toBe(0);
    expect(byItem['CloudWatch Logs ingestion']?.listUsd).toBe(Math.round(logGb * 0.5 * 100) / 100);
    expect(m.listUsd).toBe(Math.round(m.items.reduce((s, i) => s + i.listUsd, 0) * 100) / 100);
    expect(m.meetsCost).toBe(true);
  });

  it('says when the goal is missed: over 15 minutes, results after the settle time, $20 or more', () => {
    const slow = fanOutModel('99 x 4', 99, 4, deployment, { ...measured, workerBatchMs: 240_000 });

    expect(slow.wallMs).toBe(1_000 + 4 * 240_000 + 1_000 + 2_000);
    expect(slow.meetsTime).toBe(false);
    expect(slow.withinSettle).toBe(false);
    // 40 invocations of 240 s at 1 GB, 730 times a month, is 7 million GB-s.
    expect(slow.listUsd).toBeGreaterThan(20);
    expect(slow.meetsCost).toBe(false);
  });
});
