import pg from 'pg';
import type { ExternalHandler, SqlHandler, TransactionalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { runSqlEffect } from '../../src/outbox/sql/log';
import { deliveryOf, parkedIn, subscriptionRow } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const db = useSeededDatabase();

async function notificationsFor(orderId: number) {
  const { rows } = await db.pool.query(
    'select event_id, client_id, subject from notifications where order_id = $1 order by id',
    [orderId],
  );
  return rows;
}

async function lastEventId(orderId: number): Promise<string> {
  const { rows } = await db.pool.query(
    `select max(id) as id from outbox where aggregate_type = 'order' and aggregate_id = $1`,
    [String(orderId)],
  );
  return rows[0].id;
}

/** The same effect as notify-client's, written by code, counting every event it is given. */
function countingNotify(seen: string[]): TransactionalHandler<'order.status_changed'> {
  return {
    kind: 'transactional',
    name: 'counting-notify',
    eventTypes: ['order.status_changed'],
    async handleBatch(events, tx) {
      seen.push(...events.map((e) => e.id));
      await runSqlEffect(
        tx,
        notifyClientHandler.effectSql,
        events.map((e) => ({
          id: e.id,
          aggregate_type: e.aggregateType,
          aggregate_id: e.aggregateId,
          event_type: e.type,
          payload: e.payload,
          created_at: e.createdAt,
          owed: true,
          blocked: false,
          attempt: e.attempt,
        })),
      );
    },
  };
}

/** Orders 9, 10 and 12 change status; 9's event is parked for a retry with `reason`, the others done. */
async function expectOnlyOrder9Refused(subscription: string, reason: string): Promise<void> {
  await db.pool.query(`update orders set status = 'delivered' where id in (9, 10, 12)`);
  const nine = await lastEventId(9);
  const refused = await waitFor('order 9 parked for a retry', async () => {
    const d = await deliveryOf(db.pool, nine, subscription);
    return d?.state === 'retrying' && d;
  });
  expect(refused).toMatchObject({ attempts: 1 });
  expect(refused.last_error).toContain(reason);
  for (const order of [10, 12]) {
    const id = await lastEventId(order);
    await waitFor(
      `order ${order} done`,
      async () => (await deliveryOf(db.pool, id, subscription))?.state === 'done',
    );
    expect(await notificationsFor(order)).toHaveLength(1);
  }
  expect(await notificationsFor(9)).toHaveLength(0);
  // One failure among successes: parked, not a back-off of the whole subscription.
  expect((await subscriptionRow(db.pool, subscription)).state).toBe('active');
}

describe('the listener and dispatcher', () => {
  test('an update through the API is handled: the client notified, the delivery done', async () => {
    const service = await startTestService(db.url);
    const res = await fetch(`${service.url}/orders/update`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 1, status: 'shipped' }),
    });
    expect(res.status).toBe(200);
    const [notification] = await waitFor('a notification for order 1', () =>
      notificationsFor(1).then((r) => r.length && r),
    );
    expect(notification).toMatchObject({ client_id: 1, subject: 'Your order #1 is now shipped' });
    expect(await deliveryOf(db.pool, notification.event_id, 'notify-client')).toMatchObject({
      state: 'done',
      attempts: null,
      last_error: null,
    });
    // The log was not written to: the event row is as the trigger wrote it.
    const { rows } = await db.pool.query(
      `select n_tup_upd from pg_stat_user_tables where relname = 'outbox'`,
    );
    expect(Number(rows[0].n_tup_upd)).toBe(0);
  });

  test('an UPDATE typed in psql is handled exactly like an API call', async () => {
    await startTestService(db.url);
    const psql = new pg.Client({ connectionString: db.url });
    await psql.connect();
    try {
      await psql.query(`update orders set status = 'delivered' where id = 2`);
    } finally {
      await psql.end();
    }
    const [notification] = await waitFor('a notification for order 2', () =>
      notificationsFor(2).then((r) => r.length && r),
    );
    expect(notification.subject).toBe('Your order #2 is now delivered');
  });

  test('every status change gets its own notification, in order', async () => {
    await startTestService(db.url);
    const statuses = ['packed', 'shipped', 'delivered', 'cancelled', 'pending', 'paid'];
    for (const s of statuses)
      await db.pool.query('update orders set status = $1 where id = 5', [s]);
    // order 5 starts 'packed': the first update is a no-op, so five events.
    const rows = await waitFor('five notifications', () =>
      notificationsFor(5).then((r) => r.length === 5 && r),
    );
    expect(rows.map((r) => r.subject)).toEqual(
      statuses.slice(1).map((s) => `Your order #5 is now ${s}`),
    );
  });

  test('events written while no service ran are handled at start-up', async () => {
    await db.pool.query(`update orders set status = 'cancelled' where id in (6, 7)`);
    await startTestService(db.url, { env: { OUTBOX_POLL_INTERVAL_MS: '60000' } });
    await waitFor(
      'both notifications',
      async () => (await notificationsFor(6)).length + (await notificationsFor(7)).length === 2,
    );
  });

  test('a handler whose every call fails backs off as a whole, then succeeds; others run once', async () => {
    const attempts: number[] = [];
    const flaky: ExternalHandler = {
      kind: 'external',
      name: 'flaky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        attempts.push(event.attempt);
        if (attempts.length <= 2) throw new Error(`boom ${attempts.length}`);
      },
    };
    const seen: string[] = [];
    await startTestService(db.url, { handlers: [countingNotify(seen), flaky] });
    await db.pool.query(`update orders set status = 'shipped' where id = 10`);
    const id = await lastEventId(10);
    // The only call of the try failed: the subscription waits as a whole and says so.
    const backingOff = await waitFor('the subscription to back off', async () => {
      const s = await subscriptionRow(db.pool, 'flaky');
      return s.state === 'backing_off' && s;
    });
    expect(backingOff.last_error).toMatch(/boom/);
    expect(backingOff.backoff_until).toBeInstanceOf(Date);
    await waitFor(
      'the event delivered',
      async () => (await deliveryOf(db.pool, id, 'flaky'))?.state === 'done',
    );
    expect(attempts).toEqual([1, 2, 3]);
    expect(await parkedIn(db.pool, 'flaky')).toEqual([]);
    expect(await subscriptionRow(db.pool, 'flaky')).toMatchObject({
      state: 'active',
      failures: 0,
      last_error: null,
    });
    // The other subscription delivered once, unbothered.
    expect(seen).toEqual([id]);
  });

  test('a handler that says "do not retry" makes the event dead at once; other orders proceed', async () => {
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        if (event.aggregateId === '9') throw new PermanentError('order 9 is poison');
      },
    };
    await startTestService(db.url, { handlers: [notifyClientHandler, picky] });
    await db.pool.query(`update orders set status = 'delivered' where id in (9, 12)`);
    const nine = await lastEventId(9);
    const dead = await waitFor('order 9 dead in picky', async () => {
      const d = await deliveryOf(db.pool, nine, 'picky');
      return d?.state === 'dead' && d;
    });
    expect(dead.attempts).toBe(1);
    expect(dead.last_error).toContain('order 9 is poison');
    const twelve = await lastEventId(12);
    await waitFor(
      'order 12 done in picky',
      async () => (await deliveryOf(db.pool, twelve, 'picky'))?.state === 'done',
    );
    // Dead in one subscription, done in the other.
    await waitFor(
      'order 9 done in notify-client',
      async () => (await deliveryOf(db.pool, nine, 'notify-client'))?.state === 'done',
    );
  });

  test('a transactional handler failing for one event fails only that event; the chunk commits the rest', async () => {
    const refusing: TransactionalHandler<'order.status_changed'> = {
      kind: 'transactional',
      name: 'refusing',
      eventTypes: ['order.status_changed'],
      async handleBatch(events, tx) {
        if (events.some((e) => e.aggregateId === '9')) throw new Error('order 9 refused');
        await countingNotify([]).handleBatch(events, tx);
      },
    };
    await startTestService(db.url, {
      handlers: [refusing],
      env: { OUTBOX_RETRY_BASE_MS: '60000', OUTBOX_BATCH_SIZE: '50' },
    });
    await expectOnlyOrder9Refused('refusing', 'order 9 refused');
  });

  test('an SQL handler refusing one event of a chunk: the others are handled, that one parked', async () => {
    // The chunk is one statement; it fails as a whole on order 9, and runs event by event instead.
    const pickySql: SqlHandler<'order.status_changed'> = {
      ...notifyClientHandler,
      effectSql: notifyClientHandler.effectSql.replace(
        "(e.payload #>> '{new,id}')::int,",
        "(e.payload #>> '{new,id}')::int / (e.aggregate_id <> '9')::int,",
      ),
    };
    expect(pickySql.effectSql).not.toBe(notifyClientHandler.effectSql);
    await startTestService(db.url, {
      handlers: [pickySql],
      env: { OUTBOX_RETRY_BASE_MS: '60000', OUTBOX_BATCH_SIZE: '50' },
    });
    await expectOnlyOrder9Refused('notify-client', 'division by zero');
  });

  test('a payload that does not match its schema is dead at once with the reason', async () => {
    await startTestService(db.url);
    const { rows } = await db.pool.query(
      `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       values ('order', '1', 'order.status_changed', '{"op":"update"}') returning id`,
    );
    const dead = await waitFor('the event to be dead', async () => {
      const d = await deliveryOf(db.pool, rows[0].id, 'notify-client');
      return d?.state === 'dead' && d;
    });
    expect(dead.last_error).toMatch(/payload does not match order.status_changed/);
  });

  test('stop() gives the leases back and the service answers no more', async () => {
    const service = await startTestService(db.url);
    await waitFor('the lease taken', async () => service.dispatcher.held().length === 1);
    expect((await subscriptionRow(db.pool, 'notify-client')).lease_holder).toBe(
      service.dispatcher.workerId,
    );
    await service.stop();
    expect((await subscriptionRow(db.pool, 'notify-client')).lease_holder).toBeNull();
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
  });
});
