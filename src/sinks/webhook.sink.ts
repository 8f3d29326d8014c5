import { PermanentError, RetryLaterError } from '../outbox/handler';
import { parseRetryAfter } from './retry-after';
import type { Sink, SinkFactory } from './sink';
import { eventEnvelope } from './event-envelope';
import { webhookSigner } from './webhook-signature';

/**
 * A 4xx other than 408/429 usually means the receiver rejects this event for good (bad route,
 * schema it does not accept). It may also be a receiver mid-deploy, so the event gets this many
 * attempts before going dead, instead of the full OUTBOX_MAX_ATTEMPTS (hours of backoff).
 */
export const CLIENT_ERROR_ATTEMPTS = 3;

/** How much of a failed response's body goes into last_error: enough to see the receiver's reason. */
const ERROR_BODY_CHARS = 200;

/**
 * The most of a receiver's reply that is read. A reply's body is only ever needed for the first
 * ERROR_BODY_CHARS characters of last_error (up to 4 bytes each in UTF-8); reading it whole would
 * let a receiver that answers with megabytes, or never ends its answer, fill our memory or hold
 * the delivery until the timeout.
 */
export const MAX_REPLY_BYTES = 4 * ERROR_BODY_CHARS;

/**
 * Reads at most `maxBytes` of a reply's body, then stops the download. A reply that ended within
 * the bound leaves its connection reusable; a longer one is cut (its connection closed).
 */
async function readBounded(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  // A multi-byte character cut at the bound decodes as U+FFFD: harmless in an error text.
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

export interface WebhookSinkOptions {
  /** Its subscription is webhook:<name> (WEBHOOK_URLS: `name=url`, or the host). */
  name: string;
  url: string;
  /** whsec_ + base64 key (Standard Webhooks). */
  secret: string;
  timeoutMs: number;
}

/**
 * The name of the subscription of one endpoint: `webhook:<name>`, the name given in WEBHOOK_URLS or
 * the URL's host. Never the path or the query (they often carry a token): the name is shown in
 * metrics, logs and the live page.
 */
export function webhookSinkName(name: string): string {
  return `webhook:${name}`;
}

/**
 * The name the per-event outbox gave the same endpoint (host and path): its subscription, created
 * from that state by migration 0050, is renamed to the new name on first start.
 */
export function formerWebhookSinkName(url: string): string {
  const u = new URL(url);
  return `webhook:${u.host}${u.pathname}`;
}

/** The reason a call did not get an HTTP answer, in words an operator can act on. */
function transportFailure(err: unknown, where: string, timeoutMs: number): Error {
  if (err instanceof DOMException && err.name === 'TimeoutError') {
    return new Error(`POST ${where}: no answer within ${timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`);
  }
  // undici says "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND...) in `cause`.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new Error(`POST ${where}: ${detail}`, { cause: err });
}

/** Signs and POSTs each event to one URL; only a 2xx answer counts as delivered. */
export function createWebhookSink(opts: WebhookSinkOptions): Sink {
  const name = webhookSinkName(opts.name);
  // In errors and logs: the endpoint by its name, not its URL (which may carry a token).
  const where = opts.name;
  const former = formerWebhookSinkName(opts.url);
  const sign = webhookSigner(opts.secret);
  return {
    name,
    formerNames: former === name ? [] : [former],
    eventTypes: '*',
    async deliver(event, { signal }) {
      const body = JSON.stringify(eventEnvelope(event));
      let res: Response;
      let text: string;
      try {
        res = await fetch(opts.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'pg-trigger-outbox',
            ...sign(event.id, body),
          },
          body,
          // A redirect is answered as a failure, not followed: the signed body must not be
          // replayed to wherever a receiver points us.
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(opts.timeoutMs)]),
        });
        text = await readBounded(res, MAX_REPLY_BYTES);
      } catch (err) {
        throw transportFailure(err, where, opts.timeoutMs);
      }
      if (res.status >= 200 && res.status < 300) return;

      const reason = `POST ${where} answered ${res.status}${text ? `: ${text.slice(0, ERROR_BODY_CHARS)}` : ''}`;
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const clientError =
        res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      if (clientError && event.attempt >= CLIENT_ERROR_ATTEMPTS) {
        throw new PermanentError(
          `${reason} (a 4xx on attempt ${event.attempt}: not retried further)`,
        );
      }
      if (retryAfterMs !== undefined) throw new RetryLaterError(reason, retryAfterMs);
      throw new Error(reason);
    },
  };
}

/** One sink per WEBHOOK_URLS entry (config requires WEBHOOK_SECRET with them). */
export const webhookSinks: SinkFactory = ({ config }) =>
  config.WEBHOOK_URLS.map(({ name, url }) =>
    createWebhookSink({
      name,
      url,
      secret: config.WEBHOOK_SECRET!,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    }),
  );
