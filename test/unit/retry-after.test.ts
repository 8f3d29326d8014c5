import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/sinks/retry-after';

describe('Retry-After', () => {
  test('delay-seconds', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('0')).toBe(0);
  });

  test('an HTTP-date, counted from now', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
  });

  test('absent or unreadable: undefined; huge: capped', () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('999999')).toBe(MAX_RETRY_AFTER_MS);
  });
});
