/**
 * The benchmark figures in README.md and docs/scale.md are those of bench/results.json: `npm run bench` writes all
 * three, and this test fails when a document was edited by hand or left behind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fanOutModel } from '../../bench/fan-out-model.js';
import { type BenchResults, lambdaEstimateMs, median, renderTables } from '../../bench/report.js';
import { fanOutDeployment } from '../../src/core/fan-out-deployment.js';

const results = JSON.parse(readFileSync('bench/results.json', 'utf8')) as BenchResults;

describe('benchmark figures', () => {
  it.each(['README.md', 'docs/scale.md'])('%s shows the tables of bench/results.json', (file) => {
    const text = readFileSync(file, 'utf8');

    expect(text).toMatch(/<!-- bench:\w+ -->/);
    expect(renderTables(text, results)).toBe(text);
  });

  it('results.json has the sweep runs the documents name, with the Lambda estimate of its own formula', () => {
    const names = results.sweep.map((s) => s.name);

    expect(names).toEqual(
      expect.arrayContaining(['10,000 steady', '10,000 first', '10,000 in 4 regions steady']),
    );
    for (const s of results.sweep)
      expect(s.lambdaEstimateMs).toBe(lambdaEstimateMs(s.wallMs, s.cpuMs, results.lambda.memoryMB));
    expect(
      results.sweep.find((s) => s.name === '10,000 in 4 regions steady')?.peakRssPlainNodeMB,
    ).toBeGreaterThan(0);
  });

  it('shows the fan-out figures in docs/scale.md and the README', () => {
    expect(readFileSync('docs/scale.md', 'utf8')).toMatch(
      /## Fan-out figures[\s\S]*<!-- bench:fan-out -->\n\S/,
    );
    expect(readFileSync('README.md', 'utf8')).toMatch(/<!-- bench:readme-fan-out -->\nFan-out \(/);
  });

  it('results.json has the fan-out run: one message per target, at the deployed settings, modeled from its own figures', () => {
    const f = results.fanOut;
    const policy = readFileSync('watchdog.yml', 'utf8').replace(
      /^accounts: \[\].*$/m,
      "accounts: [{ id: '111122223333' }]",
    );
    const deployed = fanOutDeployment(policy);

    // The member accounts and the home account, each in every region.
    expect(f.planner.messagesSent).toBe((f.accounts + 1) * f.regions.length);
    expect(f.worker.invocations.reduce((n, i) => n + i.targets, 0)).toBe(f.worker.sampleTargets);
    expect(f.deployment).toMatchObject({
      concurrency: deployed.concurrency,
      batchSize: deployed.batchSize,
      workerMemoryMB: deployed.workerMemoryMB,
    });
    expect(f.models).toEqual([
      fanOutModel('1,000 accounts x 4 regions', f.accounts, f.regions.length, f.deployment, f.measured),
      fanOutModel('1,000 accounts x 17 regions', f.accounts, 17, f.deployment, f.measured),
    ]);
  });

  it('results.json compares this sweep with the code before #16: the medians of its own runs, the same decisions', () => {
    const b = results.baseline;

    expect('missing' in b ? b.missing : undefined).toBeUndefined();
    if ('missing' in b) return;
    expect(b.beforeCpuMs).toHaveLength(b.afterCpuMs.length);
    expect(b.beforeCpuMs.length).toBeGreaterThanOrEqual(5);
    expect(b.medianBeforeMs).toBe(median(b.beforeCpuMs));
    expect(b.medianAfterMs).toBe(median(b.afterCpuMs));
    expect(b.decisionsAgree).toBe(true);
    expect(readFileSync('docs/scale.md', 'utf8')).toMatch(
      /<!-- bench:baseline -->\nCPU of the 10,000 steady run/,
    );
  });

  it('takes the middle value as the median (the upper middle one of an even count)', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([])).toBe(0);
  });

  it('estimates Lambda time from the vCPU share of the memory size', () => {
    // 1 s waiting + 1 s of CPU here: at 256 MB the CPU second takes 1769/256 = 6.9 s
    expect(lambdaEstimateMs(2_000, 1_000, 256)).toBe(Math.round(2_000 + 1_000 * (1769 / 256 - 1)));
    expect(lambdaEstimateMs(2_000, 1_000, 1_769)).toBe(2_000);
  });
});
