/// <reference lib="dom" />
// The functions passed to page.waitForFunction run in the browser.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { collectPageErrors, launchChromium } from '../helpers/chromium';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';
import { openStream } from '../helpers/sse';
import { ADMIN_TOKEN, adminCall, changeOrder } from '../helpers/admin-api';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';

const SCREENSHOT = path.resolve(__dirname, '../../test-results/live-page.png');
const PAUSED_SCREENSHOT = path.resolve(__dirname, '../../test-results/live-page-paused.png');

let db: TestDatabase;
let browser: Browser | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  browser = await launchChromium();
});
// One service at a time: another one's dispatcher would handle this one's events.
afterEach(() => stopAllServices());
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
    // SSE message of each: one row for the event, with its state in each subscription.
    await page.waitForFunction(
      () => {
        const sent = document.querySelector<HTMLElement>('#send-status')?.dataset.aggregate;
        if (!sent) return false;
        const row = Array.from(document.querySelectorAll<HTMLElement>('#events li')).find(
          (li) => li.dataset.aggregate === sent,
        );
        const state = (name: string) =>
          row?.querySelector<HTMLElement>(`.sub-state[data-subscription="${name}"]`)?.dataset
            .status;
        return state('notify-client') === 'done' && state('picky') === 'dead';
      },
      undefined,
      { timeout: 2_000 },
    );
    const rows = page.locator('#events li');
    expect(await rows.count()).toBe(1);
    const sentText = await page.locator('#send-status').textContent();
    const [, id, from, to] = /order (\d+) (\w+) → (\w+)/.exec(sentText ?? '') ?? [];
    expect(id).toBeDefined();
    expect(await rows.locator('.change').textContent()).toContain(`status: ${from} → ${to}`);
    expect(await rows.locator('.sub-state').allTextContents()).toEqual([
      expect.stringMatching(/^(notify-client · done|picky · dead)$/),
      expect.stringMatching(/^(notify-client · done|picky · dead)$/),
    ]);
    // The reason is for the admin API and the log: anonymous readers get fixed words.
    expect(await rows.locator('.err').textContent()).toBe(
      'failed (the admin API and the log have the details)',
    );

    // The cards follow from the stats stream: one dead delivery, nothing behind, no lag.
    await page.waitForFunction(() => document.querySelector('#dead')?.textContent === '1');
    expect(await page.locator('#dead').getAttribute('class')).toBe('value bad');
    expect(await page.locator('#retrying').textContent()).toBe('0');
    await page.waitForFunction(() => document.querySelector('#lag')?.textContent === '0 ms');
    expect(await page.locator('#pending').textContent()).toBe('0');
    await page.waitForFunction(() => document.querySelector('#handled')?.textContent === '1');
    // One row per subscription: both active, nothing behind.
    expect(
      await page
        .locator('#subscriptions tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [
            (tr as HTMLElement).dataset.subscription,
            (tr as HTMLElement).dataset.state,
          ]),
        ),
    ).toEqual([
      ['notify-client', 'active'],
      ['picky', 'active'],
    ]);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });

  test('a paused subscription shows as paused while its lag grows, and catches up after resume', async () => {
    const mailer = createCallLog();
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN },
      handlers: [notifyClientHandler, recordingHandler(mailer, { name: 'mailer' })],
    });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    const seen = collectPageErrors(page);
    await page.goto(service.url);
    await page.locator('#stream-state', { hasText: 'stream: live' }).waitFor();
    const row = (name: string) => page.locator(`#subscriptions tr[data-subscription="${name}"]`);
    const chip = (id: string, name: string) =>
      page.locator(`#events li[data-id="${id}"] .sub-state[data-subscription="${name}"]`);
    await row('mailer')
      .locator('.state-chip', { hasText: /^active$/ })
      .waitFor();

    const paused = await adminCall(service.url, '/subscriptions/mailer/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    await row('mailer')
      .locator('.state-chip', { hasText: /^paused$/ })
      .waitFor();
    const ids = [
      await changeOrder(db.pool, 4),
      await changeOrder(db.pool, 5),
      await changeOrder(db.pool, 6),
    ];
    // notify-client delivers them at once; mailer owes them: its bar and count say 3.
    for (const id of ids)
      await chip(id, 'notify-client').and(page.locator('[data-status="done"]')).waitFor();
    await row('mailer').locator('.count', { hasText: /^3$/ }).waitFor();
    expect(
      await row('mailer')
        .locator('meter')
        .evaluate((m) => (m as HTMLMeterElement).value),
    ).toBe(3);
    expect(await row('notify-client').locator('.count').textContent()).toBe('0');
    expect(await row('notify-client').getAttribute('data-state')).toBe('active');
    for (const id of ids) expect(await chip(id, 'mailer').count()).toBe(0);
    expect(mailer.calls).toEqual([]);
    await mkdir(path.dirname(PAUSED_SCREENSHOT), { recursive: true });
    await page.screenshot({ path: PAUSED_SCREENSHOT, fullPage: true });

    await adminCall(service.url, '/subscriptions/mailer/resume', { method: 'POST' });
    for (const id of ids)
      await chip(id, 'mailer').and(page.locator('[data-status="done"]')).waitFor();
    await row('mailer')
      .locator('.state-chip', { hasText: /^active$/ })
      .waitFor();
    await row('mailer').locator('.count', { hasText: /^0$/ }).waitFor();
    expect(mailer.calls.map((c) => c.id)).toEqual(ids);
    expect(seen.errors).toEqual([]);
    expect(seen.console).toEqual([]);
  });

  test('with the stream cap reached the page still loads and sends; it goes live once a slot frees', async () => {
    const service = await startTestService(db.url, { env: { LIVE_STREAMS_MAX: '2' } });
    const port = Number(new URL(service.url).port);
    const held = [await openStream(port, '127.0.6.1'), await openStream(port, '127.0.6.2')];
    expect(held.map((s) => s.status)).toEqual([200, 200]);
    const page = await browser!.newPage();
    const seen = collectPageErrors(page);
    try {
      await page.goto(service.url);
      await page.locator('#stream-state', { hasText: 'stream: unavailable' }).waitFor();
      // The API answers at the cap: the button's change goes through.
      await page.click('#send');
      await page.locator('#send-status', { hasText: 'PATCH /orders/update: order' }).waitFor();

      held[0]!.socket.destroy();
      // The page tries again 5-6 s after a refusal (the answer's Retry-After).
      await page.locator('#stream-state', { hasText: 'stream: live' }).waitFor({ timeout: 10_000 });
      await page.locator('#events li').first().waitFor();
      expect(seen.errors).toEqual([]);
      // The refused stream is the only thing the browser complains about.
      for (const line of seen.console) expect(line).toMatch(/EventSource|503|events\/stream/);
    } finally {
      for (const s of held) s.socket.destroy();
    }
  });
});
