import type { SqlHandler } from '../../src/outbox/handler';
import { killAllChildren, startChild } from '../helpers/child-service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf, subscriptionRow } from '../helpers/deliveries';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// An event that never finishes a delivery: its tries are counted before each one starts, so it
// ends dead after OUTBOX_MAX_ATTEMPTS instead of being tried for ever, and the events after it go
// on.

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
});
afterEach(async () => {
  await killAllChildren();
  await stopAllServices();
  await db.drop();
});

async function lastEventOf(order: number): Promise<string> {
  const { rows } = await db.pool.query(
    `select max(id) as id from outbox where aggregate_id = $1::text`,
    [order],
  );
  return rows[0].id;
}

test('a handler that crashes its process every time: dead after the maximum, the others delivered', async () => {
  await db.pool.query(`create table crash_calls (event_id bigint not null, attempt int not null)`);
  const env = {
    DATABASE_URL: db.url,
    CRASH_ON_ORDER: '9',
    OUTBOX_MAX_ATTEMPTS: '3',
    OUTBOX_LEASE_MS: '1000',
    OUTBOX_POLL_INTERVAL_MS: '100',
    OUTBOX_SUBSCRIPTION_START: 'beginning',
    LOG_LEVEL: 'warn',
    NATS_URL: '',
    WEBHOOK_URLS: '',
    SMTP_URL: '',
  };
  await db.pool.query(`update orders set status = 'cancelled' where id = 9`);
  const poison = await lastEventOf(9);
  await db.pool.query(`update orders set status = 'cancelled' where id in (10, 11)`);

  // Each process takes the subscription over once the last one's lease ran out, counting a try;
  // the ones that reach the poisoned event die on it.
  let crashes = 0;
  for (let run = 0; run < 6; run++) {
    const child = startChild('test/helpers/crashing-service.child.ts', env);
    const outcome = await Promise.race([
      child.exited.then(() => 'crashed' as const),
      waitFor(
        'the poisoned event dead',
        async () => (await deliveryOf(db.pool, poison, 'crasher'))?.state === 'dead',
        { timeoutMs: 30_000 },
      ).then(() => 'dead' as const),
    ]);
    if (outcome === 'dead') break;
    expect(await child.exited).toMatchObject({ signal: 'SIGKILL' });
    crashes++;
  }
  // Tries 1, 2 and 3 crashed; the fourth was not started: past the maximum, dead without a call.
  expect(crashes).toBe(3);
  const dead = await deliveryOf(db.pool, poison, 'crasher');
  expect(dead).toMatchObject({ state: 'dead', attempts: 4 });
  expect(dead!.last_error).toMatch(/3 tries started and none finished/);
  // The other orders' events were delivered (at least once: a crash may repeat one).
  for (const order of [10, 11]) {
    const id = await lastEventOf(order);
    await waitFor(
      `order ${order} delivered`,
      async () => (await deliveryOf(db.pool, id, 'crasher'))?.state === 'done',
    );
  }
  await killAllChildren();
});

test('an SQL effect that runs past the statement timeout every time: dead after the maximum, the others delivered', async () => {
  // notify-client's effect, but 30 s long for order 9: every try of it is cancelled at 300 ms.
  const slow: SqlHandler<'order.status_changed'> = {
    kind: 'sql',
    name: 'slow-notify',
    eventTypes: ['order.status_changed'],
    effectSql: `insert into notifications (event_id, client_id, order_id, channel, subject, body)
                select e.id, (e.payload #>> '{new,client_id}')::int, (e.payload #>> '{new,id}')::int,
                       'email', 'subject', 'body'
                  from events e
                 cross join lateral (
                   select pg_sleep(case when e.aggregate_id = '9' then 30 else 0 end)) s`,
  };
  await startTestService(db.url, {
    handlers: [slow],
    env: {
      PG_STATEMENT_TIMEOUT_MS: '300',
      OUTBOX_MAX_ATTEMPTS: '3',
      OUTBOX_RETRY_BASE_MS: '50',
      OUTBOX_RETRY_MAX_MS: '200',
    },
  });
  await db.pool.query(`update orders set status = 'cancelled' where id = 9`);
  const poison = await lastEventOf(9);
  const dead = await waitFor(
    'the slow event dead',
    async () => {
      const d = await deliveryOf(db.pool, poison, 'slow-notify');
      return d?.state === 'dead' && d;
    },
    { timeoutMs: 30_000 },
  );
  expect(dead.attempts).toBe(3);
  expect(dead.last_error).toMatch(/statement timeout/);
  // Alone in its chunk, every call of each try failed: the subscription backed off as a whole
  // (no event parked one by one) until its last try, then moved on.
  await db.pool.query(`update orders set status = 'cancelled' where id = 10`);
  const next = await lastEventOf(10);
  await waitFor(
    'the next event delivered',
    async () => (await deliveryOf(db.pool, next, 'slow-notify'))?.state === 'done',
  );
  expect(await subscriptionRow(db.pool, 'slow-notify')).toMatchObject({
    state: 'active',
    attempts: 1,
  });
});
