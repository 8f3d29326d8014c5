import { killAllChildren, startChildService } from '../helpers/child-service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import {
  addOrders,
  cycleStatuses,
  statusChangeIds,
  waitUntilAllDone,
} from '../helpers/orders-load';
import { claimedBy, holdTableLock, serviceWaitsOnLock } from '../helpers/table-lock';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

// Issue 3, 8b: a service process SIGKILLed in the middle of a batch, then started again.

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
});
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await killAllChildren();
  await receiver?.close();
  receiver = undefined;
  await db.drop();
});

const LEASE_MS = 1500;

test('a process killed mid-batch: its claims are taken over after the lease, every event handled, no effect twice', async () => {
  const orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 10);
  // A webhook sink is an external handler: the service leases its claims (the leasing path).
  receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
  const env = {
    OUTBOX_LEASE_MS: String(LEASE_MS),
    OUTBOX_BATCH_SIZE: '50',
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
  };

  // Freeze the first process inside its batches: claimed, handler's INSERT waiting on a lock.
  const lock = await holdTableLock(db.pool, 'notifications');
  const first = await startChildService(db.url, env);
  await waitFor('the first process to be stuck mid-batch', () => serviceWaitsOnLock(db.pool));
  // The batches stuck on the lock: their handler inserts into notifications. A batch of
  // order.created events only (no such handler) may still be in flight, and settles by itself.
  const orphans = await claimedBy(db.pool, first.pid, { eventType: 'order.status_changed' });
  expect(orphans.length).toBeGreaterThan(0);

  // The second process runs before the first dies, so it could take the orphans over at once:
  // only the lease holds it back.
  const second = await startChildService(db.url, env);
  first.kill('SIGKILL');
  expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
  await lock.release();
  await cycleStatuses(db.pool, orders, 5); // more work arrives meanwhile

  const events = await statusChangeIds(db.pool);
  await waitUntilAllDone(db.pool, 20_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${second.output()}`);
  });

  // The orphans were taken over (a second claim), but only once their lease had run out.
  const { rows: after } = await db.pool.query(
    `select id, attempts, processed_at from outbox where id = any($1::bigint[]) order by id`,
    [orphans.map((o) => o.id)],
  );
  after.forEach((row, i) => {
    expect(row.attempts).toBe(2);
    expect(row.processed_at.getTime()).toBeGreaterThanOrEqual(orphans[i]!.locked_until.getTime());
  });
  // One notification per event: the killed process's half-done batches left nothing behind.
  const { rows } = await db.pool.query(
    `select count(*)::int as n, count(distinct event_id)::int as events from notifications`,
  );
  expect(rows[0]).toEqual({ n: events.length, events: events.length });
});

test('with only transactional handlers, a process killed mid-batch leaves nothing behind: its batch rolls back and the next process does it once', async () => {
  const orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 10);
  // The built-in handlers only: batches are locked inside one transaction, never leased.
  const env = { OUTBOX_LEASE_MS: String(LEASE_MS), OUTBOX_BATCH_SIZE: '50' };

  const lock = await holdTableLock(db.pool, 'notifications');
  const first = await startChildService(db.url, env);
  await waitFor('the first process to be stuck mid-batch', () => serviceWaitsOnLock(db.pool));
  expect(await claimedBy(db.pool, first.pid)).toEqual([]); // nothing leased, only locked
  first.kill('SIGKILL');
  expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
  await lock.release();
  const second = await startChildService(db.url, env);

  const events = await statusChangeIds(db.pool);
  await waitUntilAllDone(db.pool, 20_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${second.output()}`);
  });
  // The killed batch counted for nothing: every event was handled on its first (counted) attempt.
  const { rows: attempts } = await db.pool.query(
    `select attempts, count(*)::int as n from outbox group by attempts`,
  );
  expect(attempts).toEqual([{ attempts: 1, n: expect.any(Number) }]);
  const { rows } = await db.pool.query(
    `select count(*)::int as n, count(distinct event_id)::int as events from notifications`,
  );
  expect(rows[0]).toEqual({ n: events.length, events: events.length });
});
