/** The longest Retry-After we honour; a receiver asking for more is retried with the backoff. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * Milliseconds to wait per a Retry-After header (RFC 9110 §10.2.3: delay-seconds or an
 * HTTP-date), capped at MAX_RETRY_AFTER_MS; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
