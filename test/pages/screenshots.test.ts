/**
 * The keep / stop pages in a real browser (Debian's chromium driven by playwright-core), at a phone's 375x667 and a
 * desktop's 1280x800: served from 127.0.0.1 by the real answerLinkRequest() over an in-memory EC2, clicked through
 * (GET confirm -> POST -> 303 -> GET result -> refresh), with layout facts asserted and screenshots taken.
 *
 * Screenshots go to .screenshots/ (not committed); `npm run screenshots` writes them to docs/screenshots/, which
 * docs/actions.md shows. SCREENSHOT_DIR overrides both.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LinkAction, signLink } from '../../src/core/action-links.js';
import type { Instance } from '../../src/core/instance.js';
import { TAGS } from '../../src/core/policy.js';
import type { ResourceResult } from '../../src/core/ports.js';
import { answerLinkRequest, type LinkRequestDeps } from '../../src/jobs/answer-link.js';
import { policyWith } from '../support/fleet.js';
import { CHROMIUM } from './global-setup.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT =
  process.env.SCREENSHOT_DIR ??
  join(ROOT, process.env.npm_lifecycle_event === 'screenshots' ? 'docs/screenshots' : '.screenshots');

const KEY = 'screenshot-signing-key-0123456789abcdefghij';
const ACCOUNT = '123456789012';
const NOW = new Date('2026-03-03T09:40:00Z');
const WARNED_AT = '2026-03-03T09:00:00.000Z';
const POLICY = policyWith({ timeZone: 'Europe/Berlin' });

const PHONE = { width: 375, height: 667 };
const DESKTOP = { width: 1280, height: 800 };

/** EC2 in memory: what the pages read and the one thing they may change. Counts every write. */
class MemoryEc2 {
  readonly instances = new Map<string, { instance: Instance; state: string }>();
  writes: string[] = [];

  add(id: string, name: string, type: string, rule: string): void {
    this.instances.set(id, {
      state: 'running',
      instance: {
        instanceId: id,
        region: 'eu-central-1',
        instanceType: type,
        launchTime: '2026-03-03T06:00:00.000Z',
        rootDeviceType: 'ebs',
        tags: { Name: name, Owner: 'alice', [TAGS.warnedAt]: WARNED_AT, [TAGS.warnRule]: rule },
      },
    });
  }

  async describeInstance(id: string) {
    const found = this.instances.get(id);
    return found ? { state: found.state, instance: structuredClone(found.instance) } : null;
  }

  async isStopProtected(): Promise<boolean> {
    return false;
  }

  async tag(ids: string[], tags: Record<string, string>): Promise<ResourceResult[]> {
    this.writes.push('tag');
    for (const id of ids) Object.assign(this.instances.get(id)?.instance.tags ?? {}, tags);
    return ids.map((instanceId) => ({ instanceId, ok: true }));
  }

  async untag(ids: string[], keys: string[]): Promise<ResourceResult[]> {
    this.writes.push('untag');
    for (const id of ids) {
      const tags = this.instances.get(id)?.instance.tags ?? {};
      for (const k of keys) delete tags[k];
    }
    return ids.map((instanceId) => ({ instanceId, ok: true }));
  }

  async stop(ids: string[]): Promise<ResourceResult[]> {
    this.writes.push('stop');
    return ids.map((instanceId) => {
      const found = this.instances.get(instanceId);
      const previousState = found?.state ?? 'unknown';
      if (found) found.state = 'stopping';
      return { instanceId, ok: true, state: 'stopping', previousState };
    });
  }
}

const ec2 = new MemoryEc2();
const deps: LinkRequestDeps = {
  policy: POLICY,
  account: ACCOUNT,
  keys: { read: async () => KEY },
  ec2: () => ec2,
  log: () => {},
};

function token(id: string, action: LinkAction, exp = Math.floor(NOW.getTime() / 1000) + 23 * 3600): string {
  return signLink(
    {
      instanceId: id,
      region: 'eu-central-1',
      account: ACCOUNT,
      action,
      warnedAt: Date.parse(WARNED_AT) / 1000,
      exp,
      ...(action === 'keepTomorrow' ? { until: Date.parse('2026-03-04T08:00:00Z') / 1000 } : {}),
    },
    KEY,
  );
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('base64');
}

let server: Server;
let base: string;
let context: BrowserContext;
let profile: string;
let posts = 0;

beforeAll(async () => {
  // The function URL, as a local server on 127.0.0.1 only: request in, answerLinkRequest(), response out.
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (method === 'POST') posts++;
    const event = {
      rawQueryString: url.search.slice(1),
      queryStringParameters: Object.fromEntries(url.searchParams),
      body: await bodyOf(req),
      isBase64Encoded: true,
      requestContext: { http: { method } },
    };
    const answer = await answerLinkRequest(event, deps, NOW);
    res.writeHead(answer.statusCode, answer.headers);
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  profile = mkdtempSync(join(tmpdir(), 'cw-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: PHONE,
  });
  mkdirSync(OUT, { recursive: true });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** The few browser globals the layout check reads (the project's TypeScript has no DOM library). */
interface BrowserGlobals {
  document: {
    documentElement: { scrollWidth: number; clientWidth: number };
    querySelector(selector: string): BrowserElement | null;
    querySelectorAll(selector: string): Iterable<BrowserElement>;
  };
  getComputedStyle(el: BrowserElement): { backgroundColor: string; fontSize: string };
}
interface BrowserElement {
  getBoundingClientRect(): { left: number; right: number; top: number; height: number };
}

/** Layout facts of the page as it is shown. */
async function layout(page: Page) {
  return page.evaluate(() => {
    const { document, getComputedStyle } = globalThis as unknown as BrowserGlobals;
    const box = (sel: string) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return {
        left: r.left,
        right: r.right,
        top: r.top,
        height: r.height,
        color: getComputedStyle(el).backgroundColor,
      };
    };
    return {
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      title: box('h1'),
      button: box('button'),
      facts: box('dl'),
      smallestFont: Math.min(
        ...[...document.querySelectorAll('p, dt, dd, h1, button')].map((e) =>
          Number.parseFloat(getComputedStyle(e).fontSize),
        ),
      ),
    };
  });
}

async function shoot(page: Page, name: string): Promise<Awaited<ReturnType<typeof layout>>> {
  const facts = await layout(page);
  for (const [size, viewport] of [
    ['phone', PHONE],
    ['desktop', DESKTOP],
  ] as const) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(OUT, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(PHONE);
  return facts;
}

describe('the keep / stop pages in a browser', () => {
  ec2.add('i-0abc1234def567890', 'notebook', 't3.micro', 'idle');
  ec2.add('i-0def5678abc123456', 'gpu-training', 'g4dn.xlarge', 'over-uptime');

  it('fits a 375 px phone: no horizontal scroll, title, facts and button visible; stop is red, keep is blue', async () => {
    // Prepare
    const page = await context.newPage();

    // Act
    await page.goto(`${base}?t=${token('i-0abc1234def567890', 'keep4h')}`);
    const keep = await shoot(page, 'keep-confirm');
    await page.goto(`${base}?t=${token('i-0def5678abc123456', 'stop')}`);
    const stop = await shoot(page, 'stop-confirm');

    // Assess
    for (const facts of [keep, stop]) {
      expect(facts.scrollWidth).toBeLessThanOrEqual(facts.clientWidth);
      for (const el of [facts.title, facts.facts, facts.button]) {
        expect(el).not.toBeNull();
        expect(el?.left).toBeGreaterThanOrEqual(0);
        expect(el?.right).toBeLessThanOrEqual(PHONE.width);
        expect(el?.height).toBeGreaterThan(0);
      }
      expect(facts.button?.height).toBeGreaterThanOrEqual(44); // a thumb-sized target
      expect(facts.smallestFont).toBeGreaterThanOrEqual(14);
    }
    expect(keep.button?.color).toBe('rgb(9, 105, 218)');
    expect(stop.button?.color).toBe('rgb(207, 34, 46)');
    expect(await page.title()).toBe('Stop gpu-training now? - cost-watchdog');
    expect(await page.locator('button').textContent()).toBe('Yes, stop it now');
    expect(await page.locator('dl').textContent()).toMatch(/Warned for\s*running too long/);
    await page.close();
  });

  it('keeps after the button, lands on a result page, and a refresh does not post again', async () => {
    // Prepare
    const page = await context.newPage();
    await page.goto(`${base}?t=${token('i-0abc1234def567890', 'keep4h')}`);
    const before = { posts, writes: ec2.writes.length };

    // Act
    await Promise.all([page.waitForURL(/done=1/), page.locator('button').click()]);
    const done = await shoot(page, 'keep-done');
    await page.reload();

    // Assess
    expect(posts - before.posts).toBe(1);
    expect(ec2.writes.slice(before.writes)).toEqual(['tag', 'untag']);
    expect(new URL(page.url()).searchParams.get('done')).toBe('1');
    expect(await page.locator('h1').textContent()).toBe('Kept running');
    expect(await page.locator('main').textContent()).toContain(
      'will not be stopped before Tue 3 Mar 14:40 (Europe/Berlin)',
    );
    expect(done.scrollWidth).toBeLessThanOrEqual(done.clientWidth);
    await page.close();
  });

  it('refuses an expired link in local time with a next step', async () => {
    // Prepare
    const page = await context.newPage();

    // Act
    const res = await page.goto(
      `${base}?t=${token('i-0def5678abc123456', 'keep4h', Math.floor(NOW.getTime() / 1000) - 3600)}`,
    );
    const refused = await shoot(page, 'refused-expired');

    // Assess
    expect(res?.status()).toBe(410);
    const text = await page.locator('main').textContent();
    expect(text).toContain('The link expired at Tue 3 Mar 09:40 (Europe/Berlin). Nothing was changed.');
    expect(text).toMatch(/instructor or administrator/);
    expect(refused.scrollWidth).toBeLessThanOrEqual(refused.clientWidth);
    expect(refused.button).toBeNull();
    await page.close();
  });
});
