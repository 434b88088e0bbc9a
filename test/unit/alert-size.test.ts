/**
 * Every alert fits in one SNS message (256 KiB), however many instances a run warns: a first run over a big class
 * lists fewer per section instead of failing to publish (the Notifier refuses an oversized message).
 */
import { describe, expect, it } from 'vitest';
import { type Decision, evaluate } from '../../src/core/evaluate.js';
import { renderOwnerAlert, renderSweepAlert } from '../../src/core/render.js';
import { ALERT_MAX_BYTES, alertMessage, type SweepReport } from '../../src/core/report.js';
import { DEFAULT_POLICY, idleMetrics, makeInstance, NOW } from '../support/fleet.js';

/** n newly idle instances of one owner, warned in this run, with keep / stop links, plus n non-free-tier reports. */
function firstRun(n: number): { report: SweepReport; links: Map<string, never> } {
  const decisions: Decision[] = [];
  for (let k = 0; k < n; k++) {
    const idle = makeInstance({ tags: { Name: `notebook-${k}-${'x'.repeat(40)}`, Owner: 'alice' } });
    decisions.push({ ...evaluate(idle, idleMetrics(), DEFAULT_POLICY, NOW), newWarning: true });
    const large = makeInstance({
      instanceType: 't3.large',
      typeInfo: { freeTierEligible: false, gpu: false },
      tags: { Owner: 'bob' },
    });
    decisions.push(evaluate(large, undefined, DEFAULT_POLICY, NOW));
  }
  const links = new Map(
    decisions
      .filter((d) => d.action === 'warn')
      .map((d) => [
        d.instanceId,
        {
          keep4h: `https://actions.example/k?t=${'a'.repeat(300)}`,
          keepTomorrow: `https://actions.example/t?t=${'b'.repeat(300)}`,
          stop: `https://actions.example/s?t=${'c'.repeat(300)}`,
          expiresAt: NOW.toISOString(),
          keepTomorrowUntil: NOW.toISOString(),
        },
      ]),
  ) as unknown as Map<string, never>;
  const report: SweepReport = {
    at: NOW.toISOString(),
    dryRun: false,
    scopes: [{ region: 'us-east-1', instances: decisions.length, ok: true }],
    instancesSeen: decisions.length,
    decisions,
    warned: decisions.filter((d) => d.action === 'warn').map((d) => d.instanceId),
    stopped: [],
    cleared: [],
    postponed: [],
    errors: [],
    alertsSent: 0,
  };
  return { report, links };
}

const bytes = (s: string) => new TextEncoder().encode(s).length;

describe('alert size', () => {
  it('fits the summary of a first run that warns 1,000 instances in one SNS message, listing fewer', () => {
    const { report, links } = firstRun(1_000);

    const alert = renderSweepAlert(report, DEFAULT_POLICY, links);

    expect(report.warned).toHaveLength(1_000);
    expect(bytes(alertMessage(alert))).toBeLessThanOrEqual(ALERT_MAX_BYTES);
    expect(alert.subject).toBe('cost-watchdog: 0 stopped, 1000 warned');
    expect(alert.text).toMatch(/Warned: .* \(1000\):/);
    expect(alert.text).toMatch(/\.\.\. and \d+ more \(see the JSON\)/);
    expect((alert.data as { warned: string[] }).warned).toHaveLength(1_000);
  });

  it("fits one owner's alert about 1,000 of their instances", () => {
    const { report, links } = firstRun(1_000);

    const alert = renderOwnerAlert(report, DEFAULT_POLICY, 'alice', links);

    expect(bytes(alertMessage(alert))).toBeLessThanOrEqual(ALERT_MAX_BYTES);
    expect(alert.subject).toBe('cost-watchdog: 0 stopped, 1000 warned (alice)');
  });

  it('lists every instance (up to 200 per section) when that fits, as before', () => {
    const { report, links } = firstRun(60);

    const alert = renderSweepAlert(report, DEFAULT_POLICY, links);

    expect(alert.text).not.toContain('more (see the JSON)');
    expect((alert.data as { decisions: unknown[] }).decisions).toHaveLength(120);
    expect(bytes(alertMessage(alert))).toBeLessThanOrEqual(ALERT_MAX_BYTES);
  });
});
