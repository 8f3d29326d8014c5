import type { NatsConnection } from 'nats';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { waitUntilDelivered } from '../helpers/deliveries';
import {
  deleteStream,
  NATS_URL,
  natsConnection,
  readStream,
  uniqueNatsNames,
} from '../helpers/nats';
import { startTestService, stopAllServices } from '../helpers/service';
import { startSmtpCatcher, type SmtpCatcher } from '../helpers/smtp-catcher';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

const ORDERS = 100;
/** Each order goes through these in turn from 'pending': 100 orders x 10 = 1,000 changes. */
const STATUSES = [
  'paid',
  'packed',
  'shipped',
  'delivered',
  'cancelled',
  'pending',
  'paid',
  'packed',
  'shipped',
  'delivered',
] as const;
const CHANGES = ORDERS * STATUSES.length;

/** Ids of `ids` grouped by aggregate, in the order they appear. */
function byAggregate(items: { aggregate: string; id: string }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { aggregate, id } of items) out.set(aggregate, [...(out.get(aggregate) ?? []), id]);
  return out;
}

// NATS takes part when NATS_URL names a server (.ci/run sets it); the rest runs everywhere.
const withNats = NATS_URL !== undefined;

describe(`e-mail, two webhooks${withNats ? ' and NATS' : ''} together`, () => {
  let db: TestDatabase;
  let nc: NatsConnection | undefined;
  let smtp: SmtpCatcher;
  let hooks: WebhookReceiver[];
  const names = uniqueNatsNames();

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.seed();
    if (withNats) nc = await natsConnection();
    smtp = await startSmtpCatcher();
    // Every 5th call fails (20%), deterministically; the two receivers fail different events.
    hooks = await Promise.all([
      startWebhookReceiver({
        secret: TEST_WEBHOOK_SECRET,
        path: '/a',
        answer: (n) => (n % 5 === 0 ? { status: 503, body: 'busy' } : undefined),
      }),
      startWebhookReceiver({
        secret: TEST_WEBHOOK_SECRET,
        path: '/b',
        answer: (n) => (n % 5 === 2 ? { status: 500 } : undefined),
      }),
    ]);
  });
  afterAll(async () => {
    await stopAllServices();
    await Promise.all([smtp.close(), ...hooks.map((h) => h.close())]);
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
    await db.drop();
  });

  test(`1,000 status changes: 1,000 e-mails, 1,000 verified calls per URL${withNats ? ', 1,000 messages' : ''}; none missing or doubled, in order per order`, async () => {
    const { rows: orders } = await db.pool.query<{ id: number }>(
      `insert into orders (client_id, status)
       select 1 + (i % 5), 'pending' from generate_series(1, $1::int) i returning id`,
      [ORDERS],
    );
    const orderIds = orders.map((o) => o.id);
    // The seed's and these inserts' order.created events are not what this test counts.
    await db.pool.query('delete from outbox');

    await startTestService(db.url, {
      env: {
        SMTP_URL: smtp.url,
        MAIL_FROM: 'Outbox Shop <shop@shop.example>',
        WEBHOOK_URLS: hooks.map((h, i) => `hook${i}=${h.url}`).join(','),
        WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        ...(withNats
          ? {
              NATS_URL: NATS_URL!,
              NATS_STREAM: names.stream,
              NATS_SUBJECT_PREFIX: names.subjectPrefix,
            }
          : { NATS_URL: '' }),
        // Failures are deliberate and frequent: retry soon, and never give up in this test.
        OUTBOX_RETRY_BASE_MS: '20',
        OUTBOX_RETRY_MAX_MS: '200',
        OUTBOX_MAX_ATTEMPTS: '1000',
      },
    });
    // Ten rounds; each updates every order once (one statement, 100 events), while the service
    // is already handling the earlier rounds.
    for (const status of STATUSES) {
      await db.pool.query('update orders set status = $1 where id = any($2::int[])', [
        status,
        orderIds,
      ]);
    }

    const { rows: events } = await db.pool.query<{ id: string; aggregate_id: string }>(
      `select id, aggregate_id from outbox order by id`,
    );
    expect(events).toHaveLength(CHANGES);
    await waitUntilDelivered(
      db.pool,
      ['notify-client', 'email', 'webhook:hook0', 'webhook:hook1', ...(withNats ? ['nats'] : [])],
      50_000,
    );
    const ids = events.map((e) => e.id);
    const expectedOrder = byAggregate(events.map((e) => ({ aggregate: e.aggregate_id, id: e.id })));

    // E-mail: one per event, none doubled, each to the order's client, sent_at recorded.
    expect(smtp.messages.map((m) => m.messageId).sort()).toEqual(
      ids.map((id) => `<outbox-${id}@shop.example>`).sort(),
    );
    const { rows: unsent } = await db.pool.query(
      'select count(*)::int as n from notifications where sent_at is null',
    );
    expect(unsent[0].n).toBe(0);

    // Webhooks: every call verified; 1,000 accepted per URL, each event once, in order per order.
    for (const hook of hooks) {
      expect(hook.invalid).toBe(0);
      expect(hook.failed).toBeGreaterThanOrEqual(CHANGES / 5);
      expect(hook.accepted.map((a) => a.webhookId).sort()).toEqual([...ids].sort());
      expect(hook.accepted.every((a) => a.body.id === a.webhookId)).toBe(true);
      expect(
        byAggregate(hook.accepted.map((a) => ({ aggregate: a.body.aggregate.id, id: a.body.id }))),
      ).toEqual(expectedOrder);
    }

    // NATS: 1,000 messages, each event once (JetStream keeps one per Nats-Msg-Id), in order per
    // order.
    if (!nc) return;
    const messages = await readStream(nc, names.stream);
    expect(messages.map((m) => m.msgId).sort()).toEqual([...ids].sort());
    expect(
      byAggregate(
        messages.map((m) => ({
          aggregate: (m.data as { aggregate: { id: string } }).aggregate.id,
          id: m.msgId,
        })),
      ),
    ).toEqual(expectedOrder);
  });
});
