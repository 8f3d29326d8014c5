import nodemailer from 'nodemailer';
import type { OutboxEvent } from '../../src/outbox/event-types';
import { createEmailSink } from '../../src/sinks/email.sink';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { startSmtpCatcher, type SmtpCatcher } from '../helpers/smtp-catcher';
import { waitFor } from '../helpers/wait';

const db = useSeededDatabase();
let smtp: SmtpCatcher | undefined;
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
});

const MAIL_FROM = 'Outbox Shop <shop@shop.example>';

async function outboxIds(orderId: number): Promise<string[]> {
  const { rows } = await db.pool.query(
    `select id from outbox where aggregate_type = 'order' and aggregate_id = $1
        and event_type = 'order.status_changed' order by id`,
    [String(orderId)],
  );
  return rows.map((r) => r.id);
}

/** Every event settled for good (done or dead) in both subscriptions: nothing left to retry. */
const allSettled = () => waitUntilDelivered(db.pool, ['notify-client', 'email']);

describe('the e-mail sink', () => {
  test('each status change sends one e-mail to the client, Message-ID from the event id, text and HTML; sent_at recorded', async () => {
    smtp = await startSmtpCatcher();
    await startTestService(db.url, { env: { SMTP_URL: smtp.url, MAIL_FROM } });
    for (const status of ['packed', 'shipped']) {
      await db.pool.query('update orders set status = $1 where id = 3', [status]);
    }
    await waitFor('two e-mails', () => smtp!.messages.length >= 2);
    await allSettled();

    const ids = await outboxIds(3);
    expect(smtp.messages.map((m) => m.messageId)).toEqual(
      ids.map((id) => `<outbox-${id}@shop.example>`),
    );
    for (const mail of smtp.messages) {
      expect(mail.to).toEqual(['alan@example.com']); // order 3 is client 2's
      expect(mail.from).toBe('shop@shop.example');
      expect(mail.raw).toMatch(/^Subject: Your order #3 is now (packed|shipped)/m);
      expect(mail.raw).toMatch(/Content-Type: text\/plain/);
      expect(mail.raw).toMatch(/Content-Type: text\/html/);
    }
    const { rows } = await db.pool.query(
      'select event_id, subject, sent_at from notifications where order_id = 3 order by id',
    );
    expect(rows.map((r) => r.event_id)).toEqual(ids);
    expect(rows.map((r) => r.subject)).toEqual([
      'Your order #3 is now packed',
      'Your order #3 is now shipped',
    ]);
    for (const r of rows) expect(r.sent_at).toBeInstanceOf(Date);
  });

  test('a server that refuses for a while gets each message exactly once, after retries', async () => {
    // The first three DATA commands get a transient 451.
    smtp = await startSmtpCatcher({ refuseData: (n) => (n <= 3 ? 451 : undefined) });
    await startTestService(db.url, { env: { SMTP_URL: smtp.url, MAIL_FROM } });
    await db.pool.query(`update orders set status = 'cancelled' where id in (1, 2, 5)`);
    await allSettled();
    expect(smtp.refused).toBe(3);
    const expected = [...(await outboxIds(1)), ...(await outboxIds(2)), ...(await outboxIds(5))];
    expect(smtp.messages.map((m) => m.messageId).sort()).toEqual(
      expected.map((id) => `<outbox-${id}@shop.example>`).sort(),
    );
  });

  test('a recipient refused for good makes the event dead with the reason', async () => {
    smtp = await startSmtpCatcher({
      refuseRecipient: (a) => (a === 'ada@example.com' ? 550 : undefined),
    });
    await startTestService(db.url, { env: { SMTP_URL: smtp.url, MAIL_FROM } });
    await db.pool.query(`update orders set status = 'shipped' where id = 1`);
    const [id] = await outboxIds(1);
    const dead = await waitFor('the event dead in the e-mail subscription', async () => {
      const d = await deliveryOf(db.pool, id!, 'email');
      return d?.state === 'dead' && d;
    });
    expect(dead.attempts).toBe(1);
    expect(dead.last_error).toMatch(/^recipient ada@example.com refused: SMTP EENVELOPE 550/);
    // The notification itself was recorded: another subscription, unaffected.
    expect(await deliveryOf(db.pool, id!, 'notify-client')).toMatchObject({ state: 'done' });
  });

  test('delivering the same event twice sends one e-mail (sent_at guards a retry)', async () => {
    smtp = await startSmtpCatcher();
    const transport = nodemailer.createTransport({ url: smtp.url });
    const sink = createEmailSink({ pool: db.pool, transport, from: MAIL_FROM });
    const { rows } = await db.pool.query(
      `update orders set status = 'delivered' where id = 6 returning updated_at`,
    );
    const [id] = await outboxIds(6);
    const event = {
      id: id!,
      aggregateType: 'order',
      aggregateId: '6',
      type: 'order.status_changed',
      payload: {
        op: 'update',
        table: 'orders',
        new: {
          id: 6,
          client_id: 3,
          status: 'delivered',
          created_at: '',
          updated_at: rows[0].updated_at,
        },
        old: { status: 'paid' },
      },
      createdAt: new Date(),
      attempt: 1,
    } as OutboxEvent;
    const signal = new AbortController().signal;
    try {
      await sink.deliver(event, { signal });
      await sink.deliver(event, { signal });
    } finally {
      await sink.close?.();
    }
    expect(smtp.messages.map((m) => m.to)).toEqual([['grace@example.com']]);
  });

  test('without SMTP_URL the notification is only recorded', async () => {
    await startTestService(db.url);
    await db.pool.query(`update orders set status = 'shipped' where id = 7`);
    const rows = await waitFor('the notification', async () => {
      const r = await db.pool.query('select sent_at from notifications where order_id = 7');
      return r.rows.length === 1 && r.rows;
    });
    expect(rows[0].sent_at).toBeNull();
  });
});
