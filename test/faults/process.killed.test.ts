import { webhookSinkName } from '../../src/sinks/webhook.sink';
import { killAllChildren, startChildService } from '../helpers/child-service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { subscriptionRow, waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { addOrders, cycleStatuses, statusChangeIds } from '../helpers/orders-load';
import { holdTableLock, serviceWaitsOnLock } from '../helpers/table-lock';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

// A service process SIGKILLed in the middle of a round, with another already running: the dead
// one's subscriptions are taken over once its lease runs out, and nothing is lost or done twice.

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  await auditNotificationInserts(db.pool);
});
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await killAllChildren();
  await receiver?.close();
  receiver = undefined;
  await db.drop();
});

const LEASE_MS = 1500;

async function allEventIds(): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>('select id from outbox order by id');
  return rows.map((r) => r.id);
}

test('killed while its webhook calls hang: taken over after the lease, every event delivered once', async () => {
  const orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 10);
  let hang = true;
  receiver = await startWebhookReceiver({
    secret: TEST_WEBHOOK_SECRET,
    answer: () => (hang ? { status: 0, hang: true } : undefined),
  });
  const webhook = webhookSinkName(new URL(receiver.url).host);
  const env = {
    OUTBOX_LEASE_MS: String(LEASE_MS),
    OUTBOX_BATCH_SIZE: '50',
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    // The webhook subscription is new: give it every event already in the log.
    OUTBOX_SUBSCRIPTION_START: 'beginning',
  };
  const first = await startChildService(db.url, env);
  await waitFor('the first process to be stuck in its calls', () => receiver!.calls > 0);
  const held = await subscriptionRow(db.pool, webhook);
  expect(held.lease_holder).toMatch(new RegExp(`:${first.pid}:`));

  // The second runs before the first dies, so it could take over at once: only the lease holds it
  // back.
  const second = await startChildService(db.url, env);
  first.kill('SIGKILL');
  expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
  hang = false;
  await cycleStatuses(db.pool, orders, 5); // more work arrives meanwhile

  await waitUntilDelivered(db.pool, ['notify-client', webhook], 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${second.output()}`);
  });
  // Every event accepted once (the dead process's calls were never answered), and none before
  // the dead process's lease had run out.
  const ids = await allEventIds();
  expect(receiver.accepted.map((a) => a.webhookId).sort()).toEqual([...ids].sort());
  const firstAccepted = Math.min(...receiver.accepted.map((a) => a.at));
  expect(firstAccepted).toBeGreaterThanOrEqual(held.lease_until.getTime());
  const after = await subscriptionRow(db.pool, webhook);
  expect(after.lease_holder).toMatch(new RegExp(`:${second.pid}:`));
  expect(Number(after.lease_token)).toBeGreaterThan(Number(held.lease_token));
  // The built-in subscription's effect, each once.
  const events = await statusChangeIds(db.pool);
  expect(await notificationInserts(db.pool)).toMatchObject({ total: events.length, twice: [] });
});

test('killed in the middle of an SQL chunk: its transaction rolls back, the next holder writes each effect once', async () => {
  const orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 10);
  const env = { OUTBOX_LEASE_MS: String(LEASE_MS), OUTBOX_BATCH_SIZE: '50' };

  // The built-in subscription's chunk: its INSERT into notifications waits on this lock.
  const lock = await holdTableLock(db.pool, 'notifications');
  const first = await startChildService(db.url, env);
  await waitFor('the first process to be stuck mid-chunk', () => serviceWaitsOnLock(db.pool));
  const held = await subscriptionRow(db.pool, 'notify-client');
  expect(held.lease_holder).toMatch(new RegExp(`:${first.pid}:`));
  first.kill('SIGKILL');
  expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
  await lock.release();
  const second = await startChildService(db.url, env);

  const events = await statusChangeIds(db.pool);
  await waitUntilDelivered(db.pool, ['notify-client'], 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${second.output()}`);
  });
  // Each effect committed once. (Not necessarily by the second process: the dead one's backend
  // finishes the statement it was running once the lock goes, and commits it, as PostgreSQL does
  // for a client that vanished mid-statement; its lease was still the current one. Whoever
  // commits a chunk moves the position past it in the same transaction.)
  expect(await notificationInserts(db.pool)).toMatchObject({ total: events.length, twice: [] });
  // The take-over counted a try of the events at the position; a success set it back.
  expect(await subscriptionRow(db.pool, 'notify-client')).toMatchObject({ attempts: 1 });
});
