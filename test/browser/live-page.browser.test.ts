/// <reference lib="dom" />
// The functions passed to page.waitForFunction run in the browser.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve(__dirname, '../../test-results/live-page.png');

let db: TestDatabase;
let browser: Browser | undefined;
beforeAll(async () => {
  // A missing browser fails the test: a silent skip would let the page break unnoticed.
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); .ci/run does`,
    );
  }
  db = await createTestDatabase();
  await db.seed();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await stopAllServices();
  await db?.drop();
});

describe('the live page', () => {
  test('a click sends a status change; its event appears within two seconds, once per subscription', async () => {
    // Two subscriptions: the built-in notify-client, and one that refuses every event for good,
    // so that the page shows the same event done in one and dead in the other.
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle() {
        throw new PermanentError('picky refuses every order');
      },
    };
    const service = await startTestService(db.url, { handlers: [notifyClientHandler, picky] });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));

    await page.goto(service.url);
    await page.locator('#stream-state', { hasText: 'stream: live' }).waitFor();
    await page.locator('#listener-state', { hasText: 'listener: connected' }).waitFor();
    const labels = await page.locator('.card .label').allTextContents();
    expect(labels.slice(0, 4)).toEqual(['Behind', 'Retrying', 'Dead', 'Lag']);
    // The seed's order.created events are owed to neither subscription: read past, never shown.
    await page.waitForFunction(() => document.querySelector('#pending')?.textContent === '0');
    expect(await page.locator('#events li').count()).toBe(0);
    expect(await page.locator('#empty').isVisible()).toBe(true);

    await page.click('#send');
    // From the click: the API call, the trigger, NOTIFY, each subscription's delivery, and the
    // SSE message of each.
    await page.waitForFunction(
      () => {
        const sent = document.querySelector<HTMLElement>('#send-status')?.dataset.aggregate;
        if (!sent) return false;
        const rows = Array.from(document.querySelectorAll<HTMLElement>('#events li.fresh')).filter(
          (li) => li.dataset.aggregate === sent,
        );
        const state = (name: string) =>
          rows.find((li) => li.dataset.subscription === name)?.dataset.status;
        return state('notify-client') === 'done' && state('picky') === 'dead';
      },
      undefined,
      { timeout: 2_000 },
    );
    const rows = page.locator('#events li');
    expect(await rows.count()).toBe(2);
    const sentText = await page.locator('#send-status').textContent();
    const [, id, from, to] = /order (\d+) (\w+) → (\w+)/.exec(sentText ?? '') ?? [];
    expect(id).toBeDefined();
    const done = rows.filter({ has: page.locator('.sub', { hasText: /^notify-client$/ }) });
    expect(await done.textContent()).toContain(`status: ${from} → ${to}`);
    const dead = rows.filter({ has: page.locator('.sub', { hasText: /^picky$/ }) });
    expect(await dead.locator('.pill').textContent()).toBe('dead');
    expect(await dead.locator('.err').textContent()).toBe('picky refuses every order');

    // The cards follow from the stats stream: one dead delivery, nothing behind, no lag.
    await page.waitForFunction(() => document.querySelector('#dead')?.textContent === '1');
    expect(await page.locator('#dead').getAttribute('class')).toBe('value bad');
    expect(await page.locator('#retrying').textContent()).toBe('0');
    await page.waitForFunction(() => document.querySelector('#lag')?.textContent === '0 ms');
    expect(await page.locator('#pending').textContent()).toBe('0');
    await page.waitForFunction(() => document.querySelector('#handled')?.textContent === '1');
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });
});
