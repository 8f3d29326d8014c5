import { killAllChildren, startChildService, type ChildService } from '../helpers/child-service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryCounts, waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { addOrders, cycleStatuses, statusChangeIds } from '../helpers/orders-load';
import { startTestService, stopAllServices } from '../helpers/service';
import { holdTableLock, serviceWaitsOnLock } from '../helpers/table-lock';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

// SIGTERM while work is in hand. main.ts exits 1 if shutdown takes longer than
// OUTBOX_SHUTDOWN_MS + 5 s, so "exit code 0" also means "within the deadline".

let db: TestDatabase;
let orders: number[];
let receiver: WebhookReceiver;
/** Two subscriptions, one of them external: each lease must be given back. */
let sinks: Record<string, string>;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  await auditNotificationInserts(db.pool);
  orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 5);
  receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
  sinks = {
    WEBHOOK_URLS: `hook=${receiver.url}`,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    OUTBOX_BATCH_SIZE: '50',
  };
});

/** Subscriptions whose lease is held by someone. */
async function leasesHeld(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `select name from outbox_subscriptions where lease_holder is not null order by name`,
  );
  return rows.map((r) => r.name);
}
afterEach(async () => {
  await killAllChildren();
  await stopAllServices();
  await receiver.close();
  await db.drop();
});

/** PATCH requests in a loop until stopped; counts answers by status, and fails on none. */
function httpLoad(service: ChildService) {
  const answers = new Map<string, number>();
  let running = true;
  const loops = orders.slice(0, 4).map(async (id) => {
    for (let n = 0; running; n++) {
      let kind: string;
      try {
        const res = await fetch(`${service.url}/orders/update`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, status: n % 2 ? 'paid' : 'packed' }),
          // An answer, or a refused connection once the server closed: never a hang.
          signal: AbortSignal.timeout(10_000),
        });
        kind = String(res.status);
      } catch (err) {
        kind = (err as Error).name === 'TimeoutError' ? 'timeout' : 'refused';
      }
      answers.set(kind, (answers.get(kind) ?? 0) + 1);
      if (kind === 'refused') break; // the server is closed for good
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Restarted, the service delivers everything, each effect once (committed inserts audited). */
async function everythingHandledOnce(): Promise<void> {
  await startTestService(db.url);
  const events = await statusChangeIds(db.pool);
  await waitUntilDelivered(db.pool, ['notify-client']);
  expect(await notificationInserts(db.pool)).toMatchObject({ total: events.length, twice: [] });
}

test('SIGTERM while a chunk is stuck past the deadline: exit 0, the leases given back, nothing lost', async () => {
  const lock = await holdTableLock(db.pool, 'notifications');
  try {
    const service = await startChildService(db.url, {
      ...sinks,
      OUTBOX_SHUTDOWN_MS: '1500',
      OUTBOX_LEASE_MS: '60000', // a lease not given back would hold for the whole test
    });
    await waitFor('a chunk stuck mid-way', () => serviceWaitsOnLock(db.pool));
    const load = httpLoad(service);
    await waitFor('requests to flow', () => (load.answers.get('200') ?? 0) > 5);
    expect(await leasesHeld()).toEqual(['notify-client', 'webhook:hook']);

    service.kill('SIGTERM');
    const exit = await service.exited;
    await load.stop();
    if (exit.code !== 0) throw new Error(`exit ${exit.code}:\n${service.output()}`);
    expect(load.answers.get('timeout')).toBeUndefined();
    // Checked while the lock is still held: the stuck chunk was abandoned, its lease given back,
    // and it wrote nothing.
    expect(await leasesHeld()).toEqual([]);
    expect((await notificationInserts(db.pool)).total).toBe(0);
  } finally {
    await lock.release();
  }
  await everythingHandledOnce();
});

test('SIGTERM while a chunk can still finish: it finishes (no second try), exit 0', async () => {
  const lock = await holdTableLock(db.pool, 'notifications');
  const service = await startChildService(db.url, { ...sinks, OUTBOX_SHUTDOWN_MS: '20000' });
  try {
    await waitFor('a chunk stuck mid-way', () => serviceWaitsOnLock(db.pool));
    service.kill('SIGTERM');
    // Once the listener is gone, shutdown waits on the dispatcher (main.ts's order): let the
    // chunk go on.
    await waitFor('the listener to be stopped', async () => {
      const { rowCount } = await db.pool.query(
        `select 1 from pg_stat_activity
          where datname = current_database() and application_name = 'outbox-listener'`,
      );
      return rowCount === 0;
    });
    await lock.release();
    expect({ exit: await service.exited, output: service.output() }).toMatchObject({
      exit: { code: 0 },
    });
    // The stuck chunk committed before the exit (no other process runs), on its first try.
    const done = (await deliveryCounts(db.pool, ['notify-client'])).done;
    expect(done).toBeGreaterThan(0);
    expect(await notificationInserts(db.pool)).toMatchObject({ total: done, twice: [] });
    expect(await leasesHeld()).toEqual([]);
    const { rows } = await db.pool.query(
      `select attempts from outbox_subscriptions where name = 'notify-client'`,
    );
    expect(rows[0].attempts).toBe(1);
  } finally {
    await lock.release();
  }
  await everythingHandledOnce();
});
