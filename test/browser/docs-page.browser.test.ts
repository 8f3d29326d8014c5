/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { collectPageErrors, launchChromium, urlByAddress } from '../helpers/chromium';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';

let db: TestDatabase;
let browser: Browser | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stopAllServices();
  await db?.drop();
});

describe('the API docs page', () => {
  test('renders every operation of the document in Chromium, under the CSP, with no console error', async () => {
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN: 'docs-admin-token-0123456789' },
    });
    const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);

    const page = await browser!.newPage();
    const seen = collectPageErrors(page);
    // By address, as a colleague on the network would reach it (see urlByAddress).
    await page.goto(`${urlByAddress(service.url)}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('.opblock').count()).toBe(operations);
    await page.locator('.opblock-summary-path', { hasText: '/orders/update' }).waitFor();
    expect(seen).toEqual({ errors: [], console: [] });
  });
});
