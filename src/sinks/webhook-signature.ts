import { Webhook } from 'standardwebhooks';

/**
 * Signs per Standard Webhooks (https://www.standardwebhooks.com/) with the specification's own
 * package, so the signature follows it by construction: HMAC-SHA256 of
 * `${webhook-id}.${webhook-timestamp}.${body}` under the key after `whsec_` (base64), sent as
 * `v1,<base64>`. The key is decoded once, here.
 */
export function webhookSigner(secret: string) {
  const webhook = new Webhook(secret);
  /** The three headers of the spec, for a body sent now. */
  return (id: string, body: string, now = Date.now()): Record<string, string> => {
    // Whole seconds: receivers reject a timestamp too far from their clock (5 minutes in the
    // spec's libraries), so a retry is signed afresh rather than replaying the first attempt's.
    const seconds = Math.floor(now / 1000);
    return {
      'webhook-id': id,
      'webhook-timestamp': String(seconds),
      'webhook-signature': webhook.sign(id, new Date(seconds * 1000), body),
    };
  };
}
