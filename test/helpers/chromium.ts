import { existsSync } from 'node:fs';
import os from 'node:os';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's Chromium, headless. A missing browser fails the test: a silent skip would let a page
 * break unnoticed. Playwright gives each launch a fresh profile (its own --user-data-dir).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); .ci/run does`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** What a page reported as broken: uncaught errors and console errors (CSP refusals among them). */
export function collectPageErrors(page: Page): { errors: string[]; console: string[] } {
  const seen = { errors: [] as string[], console: [] as string[] };
  page.on('pageerror', (err) => seen.errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') seen.console.push(msg.text());
  });
  return seen;
}

/**
 * The service's URL by this machine's first non-loopback address when it has one: browsers treat
 * localhost (and 127.0.0.1) as secure and never upgrade its requests to HTTPS, where a user
 * reaching the service by its name or address gets upgrade-insecure-requests applied.
 */
export function urlByAddress(serviceUrl: string): string {
  const address = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
  const url = new URL(serviceUrl);
  url.hostname = address ?? '127.0.0.1';
  return url.toString().replace(/\/$/, '');
}
