import { createHmac } from 'node:crypto';
/**
 * Standard Webhooks (https://www.standardwebhooks.com/): the signed content is
 * `${webhook-id}.${webhook-timestamp}.${body}`, signed with HMAC-SHA256 under the key that follows
 * `whsec_` (base64), and sent as `v1,<base64 signature>`.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three headers of the spec, for a body sent now. */
export function webhookHeaders(
  secret: string,
  id: string,
  body: string,
  now = Date.now(),
): Record<string, string> {
  // Seconds: receivers reject a timestamp too far from their clock (5 minutes in the spec's
  // libraries), so a retry is signed afresh rather than replaying the first attempt's headers.
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}
