import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SigningKeyStore } from '../../src/aws/signing-key.js';
import { staleLink, verifyLink } from '../../src/core/action-links.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import type { Alert } from '../../src/core/report.js';
import { createSweepHandler } from '../../src/handlers/sweep.js';
import { signActionLinks } from '../../src/jobs/action-links.js';
import { runSweep } from '../../src/jobs/sweep.js';
import {
  busyMetrics,
  DEFAULT_POLICY,
  hoursAgo,
  idleMetrics,
  makeInstance,
  NOW,
  policyWith,
} from '../support/fleet.js';
import { policyFile } from '../support/policy-file.js';
import { InMemoryFleet } from './in-memory-fleet.js';

const KEY = 'warning-links-test-key-0123456789abcdefghij';
const ACCOUNT = '123456789012';
const URL_BASE = 'https://abc123.lambda-url.us-east-1.on.aws/';

let fleet: InMemoryFleet;
let alerts: Alert[];

function addRunning(overrides: Parameters<typeof makeInstance>[0] = {}, metrics = idleMetrics()) {
  const instance = makeInstance(overrides);
  fleet.add({ instance, state: 'running', stopProtected: false });
  fleet.metrics.set(instance.instanceId, metrics);
  return instance;
}

function sweep(policy = DEFAULT_POLICY, keys = { readOrCreate: async () => KEY }) {
  return runSweep({
    policy,
    now: NOW,
    targets: [{ region: 'us-east-1' }],
    services: fleet.services(),
    publish: async (a) => {
      alerts.push(a);
    },
    actionLinks: (warned) =>
      signActionLinks(warned, { actionsUrl: URL_BASE, account: ACCOUNT, keys, policy, now: NOW }),
  });
}

function tokenOf(url: string): string {
  return new URL(url).searchParams.get('t') ?? '';
}

beforeEach(() => {
  fleet = new InMemoryFleet();
  fleet.types.set('t3.micro', { freeTierEligible: true, gpu: false });
  alerts = [];
});

describe('links in warnings', () => {
  it('gives each warned instance keep, keep-until-tomorrow and stop links in the email text and the JSON', async () => {
    // Prepare
    const idle = addRunning({ tags: { Owner: 'bob' } });
    const busy = addRunning({ tags: { Owner: 'bob' } }, busyMetrics());

    // Act
    await sweep(policyWith({ timeZone: 'Europe/Berlin' }));

    // Assess
    expect(alerts.map((a) => a.owner)).toEqual([undefined, 'bob']);
    for (const alert of alerts) {
      const data = alert.data as { decisions: { instanceId: string; links?: Record<string, string> }[] };
      const mine = data.decisions.find((d) => d.instanceId === idle.instanceId);
      expect(Object.keys(mine?.links ?? {})).toEqual([
        'keep4h',
        'keepTomorrow',
        'stop',
        'expiresAt',
        'keepTomorrowUntil',
      ]);
      expect(data.decisions.find((d) => d.instanceId === busy.instanceId)?.links).toBeUndefined();
      const links = mine?.links as Record<'keep4h' | 'keepTomorrow' | 'stop', string>;
      // The admin's list indents links by 4, the owner's per-rule list by 2.
      const pad = alert.owner ? '  ' : '    ';
      expect(alert.text).toContain(`${pad}Keep it running 4 more hours: ${links.keep4h}`);
      expect(alert.text).toContain(
        `${pad}Keep it running until Thu 26 Nov 09:00 (Europe/Berlin): ${links.keepTomorrow}`,
      );
      expect(alert.text).toContain(`${pad}Stop it now: ${links.stop}`);
      const claims = (['keep4h', 'keepTomorrow', 'stop'] as const).map((a) =>
        verifyLink(tokenOf(links[a]), KEY, NOW),
      );
      expect(claims).toEqual([
        expect.objectContaining({
          ok: true,
          claims: expect.objectContaining({
            instanceId: idle.instanceId,
            account: ACCOUNT,
            action: 'keep4h',
          }),
        }),
        expect.objectContaining({
          ok: true,
          claims: expect.objectContaining({
            action: 'keepTomorrow',
            until: Date.parse('2026-11-26T08:00:00Z') / 1000,
          }),
        }),
        expect.objectContaining({ ok: true, claims: expect.objectContaining({ action: 'stop' }) }),
      ]);
    }
  });

  it('binds every link to the warning the sweep just wrote, not to a stale one the instance carried', async () => {
    // Prepare: a warning tag left from before the instance's last start (it no longer counts)
    const idle = addRunning({
      launchTime: hoursAgo(5),
      tags: { Owner: 'bob', [TAGS.warnedAt]: hoursAgo(30), [TAGS.warnRule]: 'idle' },
    });

    // Act
    const report = await sweep();

    // Assess: the tag now holds this run's warning, and each link answers exactly that one
    expect(report.warned).toEqual([idle.instanceId]);
    const tagged = fleet.find(idle.instanceId)?.instance;
    expect(tagged?.tags[TAGS.warnedAt]).toBe(NOW.toISOString());
    const data = alerts[0]?.data as { decisions: { links?: Record<string, string> }[] };
    const links = data.decisions[0]?.links as Record<'keep4h' | 'keepTomorrow' | 'stop', string>;
    for (const action of ['keep4h', 'keepTomorrow', 'stop'] as const) {
      const verdict = verifyLink(tokenOf(links[action]), KEY, NOW);
      if (!verdict.ok) throw new Error(`link refused: ${verdict.reason}`);
      expect(verdict.claims.warnedAt).toBe(NOW.getTime() / 1000);
      expect(staleLink(verdict.claims, tagged as NonNullable<typeof tagged>, NOW)).toBeNull();
    }
  });

  it('gives no links to instances of member accounts (the actions function cannot act there)', async () => {
    // Prepare
    const member = addRunning({ account: '210987654321' });

    // Act
    const report = await sweep();

    // Assess
    expect(report.warned).toEqual([member.instanceId]);
    expect(report.decisions[0]?.account).toBe('210987654321');
    expect(alerts[0]?.text).toContain(member.instanceId);
    expect(alerts[0]?.text).not.toContain('lambda-url');
  });

  it('still sends the warnings, without links, when the signing key cannot be read, and reports why', async () => {
    // Prepare
    addRunning();

    // Act
    const report = await sweep(DEFAULT_POLICY, {
      readOrCreate: async () => {
        throw new Error('AccessDeniedException: ssm:GetParameter');
      },
    });

    // Assess
    expect(report.warned).toHaveLength(1);
    expect(alerts[0]?.text).not.toContain('lambda-url');
    expect(report.errors).toEqual([
      { region: '-', operation: 'action links', message: 'AccessDeniedException: ssm:GetParameter' },
    ]);
  });

  it('reads the key only when a warning goes out', async () => {
    // Prepare
    addRunning({}, busyMetrics());
    let reads = 0;

    // Act
    await sweep(DEFAULT_POLICY, {
      readOrCreate: async () => {
        reads++;
        return KEY;
      },
    });

    // Assess
    expect(reads).toBe(0);
  });
});

describe('the sweep handler and the signing key', () => {
  it('signs each run with the key that is in SSM at that moment, though it keeps one store per container', async () => {
    // Prepare: a warm sweep container; the key is replaced between two runs within the same minute
    const ssm = mockClient(SSMClient);
    const NEW_KEY = 'replaced-signing-key-0123456789abcdefghijkl';
    ssm
      .on(GetParameterCommand)
      .resolvesOnce({ Parameter: { Value: KEY } })
      .resolves({ Parameter: { Value: NEW_KEY } });
    const handler = createSweepHandler({
      clock: () => NOW,
      env: {
        AWS_REGION: 'us-east-1',
        TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`,
        POLICY_FILE: policyFile('regions: [us-east-1]\n'),
        ACTIONS_URL: URL_BASE,
        SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
      },
      services: fleet.services(),
      notifier: { publish: async (a: Alert) => alerts.push(a) } as never,
      signingKeys: new SigningKeyStore(
        new SSMClient({ region: 'us-east-1' }),
        NAMES.signingKeyParameter,
        () => NOW,
      ),
    });
    const linkOf = (instanceId: string) => {
      const data = alerts.at(-1)?.data as { decisions: { instanceId: string; links?: { stop: string } }[] };
      return tokenOf(data.decisions.find((d) => d.instanceId === instanceId)?.links?.stop ?? '');
    };

    // Act
    const first = addRunning();
    await handler({});
    const firstLink = linkOf(first.instanceId);
    const second = addRunning();
    await handler({});
    const secondLink = linkOf(second.instanceId);

    // Assess
    expect(verifyLink(firstLink, KEY, NOW).ok).toBe(true);
    expect(verifyLink(secondLink, NEW_KEY, NOW).ok).toBe(true);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
    ssm.restore();
  });
});
