import { PermanentError, RetryLaterError } from '../../src/outbox/handler';
import type { OutboxEvent } from '../../src/outbox/event-types';
import { parseConfig } from '../../src/config/env';
import {
  createWebhookSink,
  formerWebhookSinkName,
  webhookSinkName,
} from '../../src/sinks/webhook.sink';
import { deliveryCounts, waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type Answer,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

function event(id: string, attempt = 1): OutboxEvent {
  return {
    id,
    aggregateType: 'order',
    aggregateId: '5',
    type: 'order.status_changed',
    payload: { op: 'update', table: 'orders', new: { id: 5, status: 'paid' }, old: {} },
    createdAt: new Date('2030-01-02T03:04:05.000Z'),
    attempt,
  } as OutboxEvent;
}

const signal = new AbortController().signal;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

async function receiverAnswering(answer: (call: number) => Answer | undefined) {
  receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET, answer });
  return createWebhookSink({
    name: 'test',
    url: receiver.url,
    secret: TEST_WEBHOOK_SECRET,
    timeoutMs: 2_000,
  });
}

describe('the webhook sink', () => {
  test('signs each call per Standard Webhooks: the standardwebhooks package verifies it', async () => {
    const sink = await receiverAnswering(() => undefined);
    await sink.deliver(event('42'), { signal });
    expect(receiver!.invalid).toBe(0);
    expect(receiver!.accepted).toEqual([
      {
        at: expect.any(Number),
        webhookId: '42',
        body: {
          id: '42',
          type: 'order.status_changed',
          aggregate: { type: 'order', id: '5' },
          payload: { op: 'update', table: 'orders', new: { id: 5, status: 'paid' }, old: {} },
          created_at: '2030-01-02T03:04:05.000Z',
        },
      },
    ]);
  });

  test('a receiver with another secret rejects the signature', async () => {
    receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
    const other = `whsec_${Buffer.from('another-secret-of-32-bytes-long!').toString('base64')}`;
    const sink = createWebhookSink({
      name: 'test',
      url: receiver.url,
      secret: other,
      timeoutMs: 2_000,
    });
    await expect(sink.deliver(event('1'), { signal })).rejects.toThrow(/answered 401/);
    expect(receiver.invalid).toBe(1);
  });

  test('a 5xx is a failure to retry, with the status and the receiver’s reason', async () => {
    const sink = await receiverAnswering(() => ({ status: 500, body: 'database is down' }));
    const err = await sink.deliver(event('1'), { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentError);
    expect(err).not.toBeInstanceOf(RetryLaterError);
    expect((err as Error).message).toBe(
      // Named, not by its URL (which may carry a token): errors reach logs and the live page.
      'POST test answered 500: database is down',
    );
  });

  test.each([429, 503])('Retry-After on a %i is honoured', async (status) => {
    const sink = await receiverAnswering(() => ({ status, headers: { 'retry-after': '7' } }));
    const err = await sink.deliver(event('1'), { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(7_000);
  });

  test('a 4xx is retried on the first attempts, then the event goes dead', async () => {
    const sink = await receiverAnswering(() => ({ status: 422, body: 'unknown type' }));
    for (const attempt of [1, 2]) {
      const err = await sink.deliver(event('1', attempt), { signal }).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(PermanentError);
    }
    await expect(sink.deliver(event('1', 3), { signal })).rejects.toThrow(PermanentError);
  });

  test('408 and 429 are never permanent', async () => {
    const sink = await receiverAnswering((n) => ({ status: n === 1 ? 408 : 429 }));
    for (let i = 0; i < 2; i++) {
      const err = await sink.deliver(event('1', 9), { signal }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(PermanentError);
    }
  });

  test('a receiver that does not answer in time is a failure to retry', async () => {
    receiver = await startWebhookReceiver({
      secret: TEST_WEBHOOK_SECRET,
      answer: () => ({ status: 200, hang: true }),
    });
    const sink = createWebhookSink({
      name: 'test',
      url: receiver.url,
      secret: TEST_WEBHOOK_SECRET,
      timeoutMs: 200,
    });
    await expect(sink.deliver(event('1'), { signal })).rejects.toThrow(
      /no answer within 200 ms \(WEBHOOK_TIMEOUT_MS\)/,
    );
  });

  test('a refused connection is a failure to retry, naming the cause', async () => {
    receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
    const { url } = receiver;
    await receiver.close();
    receiver = undefined;
    const sink = createWebhookSink({
      name: 'test',
      url,
      secret: TEST_WEBHOOK_SECRET,
      timeoutMs: 2_000,
    });
    const err = await sink.deliver(event('1'), { signal }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(err).not.toBeInstanceOf(PermanentError);
  });

  test('a redirect is not followed: it is a failure', async () => {
    const sink = await receiverAnswering(() => ({
      status: 307,
      headers: { location: 'http://127.0.0.1:1/elsewhere' },
    }));
    await expect(sink.deliver(event('1'), { signal })).rejects.toThrow(/answered 307/);
    expect(receiver!.calls).toBe(1);
  });

  test('its subscription is named after the name given, or the host: never the path or query', () => {
    const secret = { WEBHOOK_SECRET: TEST_WEBHOOK_SECRET };
    const parsed = parseConfig({
      ...secret,
      WEBHOOK_URLS:
        'https://user:pw@hooks.example.com:8443/in/orders?token=abc, crm=https://crm.example.com/t/s3cret',
    });
    expect(parsed.WEBHOOK_URLS.map((w) => webhookSinkName(w.name))).toEqual([
      'webhook:hooks.example.com:8443',
      'webhook:crm',
    ]);
    // Two URLs on one host must be told apart by a name of their own.
    expect(() =>
      parseConfig({ ...secret, WEBHOOK_URLS: 'https://h.example/a,https://h.example/b' }),
    ).toThrow(/would both be named h.example: name them/);
    // What the per-event outbox called it: its subscription is renamed on first start.
    expect(
      formerWebhookSinkName('https://user:pw@hooks.example.com:8443/in/orders?token=abc'),
    ).toBe('webhook:hooks.example.com:8443/in/orders');
  });
});

describe('webhooks in the service', () => {
  const db = useSeededDatabase({ seedEvents: false });
  let other: WebhookReceiver | undefined;
  afterEach(async () => {
    await other?.close();
    other = undefined;
  });

  test('two URLs, one failing every 3rd call: each gets every event once, in order per order; state is per URL', async () => {
    receiver = await startWebhookReceiver({
      secret: TEST_WEBHOOK_SECRET,
      path: '/flaky',
      answer: (n) => (n % 3 === 0 ? { status: 502 } : undefined),
    });
    other = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET, path: '/steady' });
    await startTestService(db.url, {
      env: {
        WEBHOOK_URLS: `${receiver.url},${other.url}`,
        WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        OUTBOX_RETRY_BASE_MS: '20',
        OUTBOX_RETRY_MAX_MS: '100',
        OUTBOX_MAX_ATTEMPTS: '100',
      },
    });
    for (const status of ['cancelled', 'pending', 'paid', 'packed', 'shipped']) {
      await db.pool.query('update orders set status = $1 where id in (3, 7, 11)', [status]);
    }
    const { rows } = await db.pool.query<{ id: string; aggregate_id: string }>(
      'select id, aggregate_id from outbox order by id',
    );
    const flaky = webhookSinkName(new URL(receiver.url).host);
    const steady = webhookSinkName(new URL(other.url).host);
    await waitUntilDelivered(db.pool, [flaky, steady], 30_000);
    const expected = (aggregate: string) =>
      rows.filter((r) => r.aggregate_id === aggregate).map((r) => r.id);
    for (const hook of [receiver, other]) {
      expect(hook.invalid).toBe(0);
      // Each accepted once (a failed call is repeated, a successful one is not), in order per order.
      expect(hook.accepted).toHaveLength(rows.length);
      for (const order of ['3', '7', '11']) {
        expect(
          hook.accepted.filter((a) => a.body.aggregate.id === order).map((a) => a.webhookId),
        ).toEqual(expected(order));
      }
    }
    expect(receiver.failed).toBeGreaterThan(0);
    // The steady URL is its own subscription: never re-called for the flaky one's failures.
    expect(other.calls).toBe(rows.length);
    expect(other.accepted).toHaveLength(rows.length);
    for (const name of [flaky, steady]) {
      expect(await deliveryCounts(db.pool, [name])).toEqual({
        pending: 0,
        done: rows.length,
        retrying: 0,
        dead: 0,
      });
    }
  });
});
