import net from 'node:net';
import type { NatsConnection } from 'nats';
import { addOrders } from '../helpers/orders-load';
import { deliveryCounts, subscriptionRow, waitUntilDelivered } from '../helpers/deliveries';
import {
  deleteStream,
  describeWithNats,
  NATS_URL,
  natsConnection,
  uniqueNatsNames,
} from '../helpers/nats';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { startSmtpCatcher, type SmtpCatcher } from '../helpers/smtp-catcher';
import { waitFor } from '../helpers/wait';
import { TEST_WEBHOOK_SECRET } from '../helpers/webhook-receiver';

// Each sink is a subscription of its own: what happens to one (an endpoint that hangs, a sink an
// instance is not configured for, a sink that cannot work at all) holds back no other.

const db = useSeededDatabase({ seedEvents: false });
const MAIL_FROM = 'Outbox Shop <shop@shop.example>';
let smtp: SmtpCatcher | undefined;
let hung: net.Server | undefined;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => (hung ? hung.close(resolve) : resolve(undefined)));
  hung = undefined;
});

/** An HTTP endpoint that accepts every connection and never answers. */
async function hungEndpoint(): Promise<string> {
  hung = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => hung!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(hung.address() as net.AddressInfo).port}/hooks`;
}

/** One status change for each order, each its own transaction. */
async function changeEach(orders: number[]): Promise<void> {
  for (const id of orders)
    await db.pool.query(`update orders set status = 'paid' where id = $1`, [id]);
}

test('a webhook endpoint that never answers does not hold back a single e-mail', async () => {
  smtp = await startSmtpCatcher();
  const url = await hungEndpoint();
  await startTestService(db.url, {
    env: {
      SMTP_URL: smtp.url,
      MAIL_FROM,
      WEBHOOK_URLS: `stuck=${url}`,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      // Longer than the test: the calls never end on their own.
      WEBHOOK_TIMEOUT_MS: '600000',
    },
  });
  const orders = await addOrders(db.pool, 300);
  await db.pool.query('delete from outbox');
  await changeEach(orders);
  await waitFor('300 e-mails', () => smtp!.messages.length === 300, { timeoutMs: 30_000 });
  await waitUntilDelivered(db.pool, ['notify-client', 'email']);
  // The webhook's subscription is still stuck on its first calls, and owes every event.
  expect(sockets.size).toBeGreaterThan(0);
  expect((await deliveryCounts(db.pool, ['webhook:stuck'])).done).toBe(0);
});

test('an instance without a sink does not deliver (or settle) that sink: the one with it does', async () => {
  smtp = await startSmtpCatcher();
  // As during a deploy that adds e-mail: one instance has SMTP_URL, the other not yet.
  const withMail = await startTestService(db.url, { env: { SMTP_URL: smtp.url, MAIL_FROM } });
  const without = await startTestService(db.url);
  const orders = await addOrders(db.pool, 400);
  await db.pool.query('delete from outbox');
  await changeEach(orders);
  await waitUntilDelivered(db.pool, ['notify-client', 'email'], 30_000);
  expect(smtp.messages).toHaveLength(400);
  expect(new Set(smtp.messages.map((m) => m.messageId)).size).toBe(400);
  // Only the instance configured for e-mail ever held its subscription.
  expect(without.dispatcher.held()).not.toContain('email');
  expect(withMail.dispatcher.held()).toContain('email');
});

describeWithNats('a sink that cannot work as configured (real nats-server at NATS_URL)', () => {
  let nc: NatsConnection;
  const taken = uniqueNatsNames();
  const mine = uniqueNatsNames();
  beforeAll(async () => {
    nc = await natsConnection();
    // Another stream already captures the subjects our stream would take.
    await (
      await nc.jetstreamManager()
    ).streams.add({
      name: taken.stream,
      subjects: [`${mine.subjectPrefix}.>`],
    });
  });
  afterAll(async () => {
    await deleteStream(nc, taken.stream);
    await deleteStream(nc, mine.stream);
    await nc.close();
  });

  test('is said at start-up and in /readyz, and backs off alone: e-mails flow', async () => {
    smtp = await startSmtpCatcher();
    const service = await startTestService(db.url, {
      env: {
        SMTP_URL: smtp.url,
        MAIL_FROM,
        NATS_URL: NATS_URL!,
        NATS_STREAM: mine.stream,
        NATS_SUBJECT_PREFIX: mine.subjectPrefix,
      },
    });
    const ready = await (await fetch(`${service.url}/readyz`)).json();
    expect(ready.status).toBe('degraded');
    expect(ready.checks.sinks).toMatchObject({ ok: false });
    // Anyone may read which sink; the reason is for the log and the admin API.
    expect(ready.checks.sinks.detail).toMatch(/^cannot work as configured: nats \(/);
    const orders = await addOrders(db.pool, 20);
    await changeEach(orders);
    await waitFor('20 e-mails', () => smtp!.messages.length === 20);
    const nats = await waitFor('the NATS subscription backing off', async () => {
      const s = await subscriptionRow(db.pool, 'nats');
      return s.state === 'backing_off' && s;
    });
    expect(nats.last_error).toMatch(/another stream already captures those subjects/);
    // Nothing parked one by one: the events wait at its position.
    expect((await deliveryCounts(db.pool, ['nats'])).retrying).toBe(0);
  });
});
