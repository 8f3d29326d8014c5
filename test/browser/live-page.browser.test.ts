/// <reference lib="dom" />
// The functions passed to page.waitForFunction run in the browser.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { collectPageErrors, launchChromium } from '../helpers/chromium';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';
import { openStream } from '../helpers/sse';

const SCREENSHOT = path.resolve(__dirname, '../../test-results/live-page.png');

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
  test('a click on the button sends a status change and its event appears within two seconds', async () => {
    const service = await startTestService(db.url);
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));

    await page.goto(service.url);
    await page.locator('#stream-state', { hasText: 'stream: live' }).waitFor();
    await page.locator('#listener-state', { hasText: 'listener: connected' }).waitFor();
    // The seed's twelve order.created events arrive with the first snapshot.
    await page.locator('#events li').first().waitFor();
    const before = await page.locator('#events li').count();

    await page.click('#send');
    // From the click: the API call, the trigger, NOTIFY, the handler, and the SSE message.
    await page.waitForFunction(
      () => {
        const sent = document.querySelector<HTMLElement>('#send-status')?.dataset.aggregate;
        if (!sent) return false;
        const row = document.querySelector(`#events li[data-aggregate="${sent}"].fresh`);
        return row?.getAttribute('data-status') === 'done';
      },
      undefined,
      { timeout: 2_000 },
    );
    expect(await page.locator('#events li').count()).toBe(before + 1);
    const sentText = await page.locator('#send-status').textContent();
    const [, id, from, to] = /order (\d+) (\w+) → (\w+)/.exec(sentText ?? '') ?? [];
    expect(await page.locator('#events li').first().textContent()).toContain(
      `status: ${from} → ${to}`,
    );
    expect(id).toBeDefined();

    // The cards are filled from the stats stream.
    await page.waitForFunction(() => document.querySelector('#handled')?.textContent !== '–');
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
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
