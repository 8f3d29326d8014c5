import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { EventEnvelope } from '../../src/sinks/event-envelope';

/** A webhook call the receiver verified and accepted (answered 2xx). */
export interface ReceivedWebhook {
  webhookId: string;
  body: EventEnvelope;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (until the receiver closes): for timeouts. */
  hang?: boolean;
}

export interface WebhookReceiver {
  url: string;
  /** Verified calls answered 2xx, in arrival order. */
  accepted: ReceivedWebhook[];
  /** Calls answered with a failure on purpose. */
  failed: number;
  /** Calls whose signature did not verify (answered 401). */
  invalid: number;
  /** Every call, verified or not. */
  calls: number;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver that verifies every call with the `standardwebhooks` package, as a user's
 * receiver would. `answer(n, body)` (n counts calls from 1) decides what verified call n, whose
 * body is `body`, gets; default 204.
 */
export async function startWebhookReceiver(opts: {
  secret: string;
  answer?: (call: number, body: EventEnvelope) => Answer | undefined;
  path?: string;
}): Promise<WebhookReceiver> {
  const verifier = new Webhook(opts.secret);
  const hanging = new Set<http.ServerResponse>();
  const state = { accepted: [] as ReceivedWebhook[], failed: 0, invalid: 0, calls: 0 };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = ++state.calls;
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        verifier.verify(raw, req.headers as Record<string, string>);
      } catch (err) {
        state.invalid++;
        res.writeHead(401).end(String(err));
        return;
      }
      const answer = opts.answer?.(call, JSON.parse(raw) as EventEnvelope) ?? { status: 204 };
      if (answer.hang) {
        hanging.add(res);
        return;
      }
      if (answer.status >= 200 && answer.status < 300) {
        state.accepted.push({
          webhookId: String(req.headers['webhook-id']),
          body: JSON.parse(raw) as EventEnvelope,
          at: Date.now(),
        });
      } else state.failed++;
      res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${opts.path ?? '/hook'}`,
    get accepted() {
      return state.accepted;
    },
    get failed() {
      return state.failed;
    },
    get invalid() {
      return state.invalid;
    },
    get calls() {
      return state.calls;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A valid Standard Webhooks secret for tests. */
export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.from('test-secret-of-32-bytes-long!!!!').toString('base64')}`;
