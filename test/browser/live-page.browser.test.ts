/// <reference lib="dom" />
// The functions passed to page.waitForFunction run in the browser.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
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
});
