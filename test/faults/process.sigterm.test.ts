import { killAllChildren, startChildService, type ChildService } from '../helpers/child-service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import {
  addOrders,
  cycleStatuses,
  outboxStatusCounts,
  statusChangeIds,
  waitUntilAllDone,
} from '../helpers/orders-load';
import { startTestService, stopAllServices } from '../helpers/service';
import { claimedBy, holdTableLock, serviceWaitsOnLock } from '../helpers/table-lock';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

// Issue 3, 8f: SIGTERM while work is in hand. main.ts exits 1 if shutdown takes longer than
// OUTBOX_SHUTDOWN_MS + 5 s, so "exit code 0" also means "within the deadline".

let db: TestDatabase;
let orders: number[];
let receiver: WebhookReceiver;
/** A webhook sink makes the service lease its claims: these tests are about giving them back. */
let leasing: Record<string, string>;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  orders = await addOrders(db.pool, 40);
  await cycleStatuses(db.pool, orders, 5);
  receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
  leasing = { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: TEST_WEBHOOK_SECRET };
});
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

async function everythingHandledOnce(): Promise<void> {
  const events = await statusChangeIds(db.pool);
  await waitUntilAllDone(db.pool);
  const { rows } = await db.pool.query(
    `select count(*)::int as n, count(distinct event_id)::int as events from notifications`,
  );
  expect(rows[0]).toEqual({ n: events.length, events: events.length });
}

test('SIGTERM while a batch is stuck past the deadline: exit 0, the claims given back, nothing lost', async () => {
  const lock = await holdTableLock(db.pool, 'notifications');
  try {
    const service = await startChildService(db.url, {
      ...leasing,
      OUTBOX_SHUTDOWN_MS: '1500',
      OUTBOX_LEASE_MS: '60000', // a claim not given back would stay claimed for the whole test
    });
    await waitFor('a batch stuck mid-way', () => serviceWaitsOnLock(db.pool));
    const load = httpLoad(service);
    await waitFor('requests to flow', () => (load.answers.get('200') ?? 0) > 5);
    expect((await claimedBy(db.pool, service.pid)).length).toBeGreaterThan(0);

    service.kill('SIGTERM');
    const exit = await service.exited;
    await load.stop();
    if (exit.code !== 0) throw new Error(`exit ${exit.code}:\n${service.output()}`);
    expect(load.answers.get('timeout')).toBeUndefined();
    // Checked while the lock is still held: the stuck batch did not keep its rows.
    expect((await outboxStatusCounts(db.pool)).processing).toBe(0);
  } finally {
    await lock.release();
  }
  await startTestService(db.url);
  await everythingHandledOnce();
});

test('SIGTERM while a batch can still finish: it finishes (no second attempt), exit 0', async () => {
  const lock = await holdTableLock(db.pool, 'notifications');
  const service = await startChildService(db.url, { ...leasing, OUTBOX_SHUTDOWN_MS: '20000' });
  try {
    await waitFor('a batch stuck mid-way', () => serviceWaitsOnLock(db.pool));
    const inHand = await claimedBy(db.pool, service.pid);
    expect(inHand.length).toBeGreaterThan(0);
    service.kill('SIGTERM');
    // Once the listener is gone, shutdown waits on the dispatcher (main.ts's order): let the
    // batch go on.
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
    const { rows } = await db.pool.query(
      `select status, attempts from outbox where id = any($1::bigint[])`,
      [inHand.map((r) => r.id)],
    );
    expect(rows).toEqual(inHand.map(() => ({ status: 'done', attempts: 1 })));
  } finally {
    await lock.release();
  }
  await startTestService(db.url);
  await everythingHandledOnce();
});
