import pg from 'pg';
import type { ExternalHandler, SqlHandler, TransactionalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { runSqlEffect } from '../../src/outbox/sql/one-statement';
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

async function outboxRow(id: string) {
  const { rows } = await db.pool.query('select * from outbox where id = $1', [id]);
  return rows[0];
}

async function lastEventId(orderId: number): Promise<string> {
  const { rows } = await db.pool.query(
    `select max(id) as id from outbox where aggregate_type = 'order' and aggregate_id = $1`,
    [String(orderId)],
  );
  return rows[0].id;
}

/** Orders 9, 10 and 12 change status; 9's event waits for a retry with `reason`, the others are done. */
async function expectOnlyOrder9Refused(reason: string): Promise<void> {
  await db.pool.query(`update orders set status = 'delivered' where id in (9, 10, 12)`);
  const refused = await waitFor('order 9 event to be retrying', async () => {
    const r = await outboxRow(await lastEventId(9));
    return r.status === 'pending' && r.attempts === 1 && r;
  });
  expect(refused.last_error).toContain(reason);
  for (const order of [10, 12]) {
    await waitFor(
      `order ${order} done`,
      async () => (await outboxRow(await lastEventId(order))).status === 'done',
    );
    expect(await notificationsFor(order)).toHaveLength(1);
  }
  expect(await notificationsFor(9)).toHaveLength(0);
}

describe('the listener and dispatcher', () => {
  test('an update through the API is handled: the row is done and the client notified', async () => {
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
    const row = await outboxRow(notification.event_id);
    expect(row).toMatchObject({ status: 'done', attempts: 1, locked_by: null, last_error: null });
    expect(row.processed_at).toBeInstanceOf(Date);
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

  test('a failing handler is retried with backoff until it succeeds; the others do not redo their work', async () => {
    let calls = 0;
    const flaky: ExternalHandler = {
      kind: 'external',
      name: 'flaky',
      eventTypes: ['order.status_changed'],
      async handle() {
        calls++;
        if (calls <= 2) throw new Error(`boom ${calls}`);
      },
    };
    const inserts: string[] = [];
    const countingNotify: TransactionalHandler<'order.status_changed'> = {
      kind: 'transactional',
      name: notifyClientHandler.name,
      eventTypes: notifyClientHandler.eventTypes,
      async handleBatch(events, tx) {
        inserts.push(...events.map((e) => e.id));
        await runSqlEffect(tx, notifyClientHandler, events);
      },
    };
    await startTestService(db.url, { handlers: [countingNotify, flaky] });
    await db.pool.query(`update orders set status = 'shipped' where id = 10`);
    const id = await lastEventId(10);
    const row = await waitFor('the event to be done', async () => {
      const r = await outboxRow(id);
      return r.status === 'done' && r;
    });
    expect(calls).toBe(3);
    expect(row.attempts).toBe(3);
    expect(row.deliveries.flaky).toMatchObject({ status: 'done', attempts: 3 });
    expect(row.deliveries['notify-client']).toMatchObject({ status: 'done', attempts: 1 });
    expect(inserts).toEqual([id]);
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
    const dead = await waitFor('order 9 event dead', async () => {
      const r = await outboxRow(await lastEventId(9));
      return r.status === 'dead' && r;
    });
    expect(dead.attempts).toBe(1);
    expect(dead.last_error).toContain('order 9 is poison');
    await waitFor(
      'order 12 done',
      async () => (await outboxRow(await lastEventId(12))).status === 'done',
    );
  });

  test('a transactional handler failing for one event fails only that event; the batch commits the rest', async () => {
    const written: string[] = [];
    const pickyNotify: TransactionalHandler<'order.status_changed'> = {
      kind: 'transactional',
      name: notifyClientHandler.name,
      eventTypes: notifyClientHandler.eventTypes,
      async handleBatch(events, tx) {
        if (events.some((e) => e.aggregateId === '9')) throw new Error('order 9 refused');
        await runSqlEffect(tx, notifyClientHandler, events);
        written.push(...events.map((e) => e.id));
      },
    };
    await startTestService(db.url, {
      handlers: [pickyNotify],
      env: { OUTBOX_RETRY_BASE_MS: '60000', OUTBOX_BATCH_SIZE: '50' },
    });
    await expectOnlyOrder9Refused('order 9 refused');
  });

  test('an SQL handler refusing one event of a batch: the others are handled, that one retried', async () => {
    // Every handler is an SQL handler, so a batch is one statement; it fails as a whole on order 9,
    // and the batch is handled the in-transaction way instead, which isolates the event.
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
    await expectOnlyOrder9Refused('division by zero');
  });

  test('a payload that does not match its schema is dead at once with the reason', async () => {
    await startTestService(db.url);
    const { rows } = await db.pool.query(
      `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       values ('order', '1', 'order.status_changed', '{"op":"update"}') returning id`,
    );
    const row = await waitFor('the event to be dead', async () => {
      const r = await outboxRow(rows[0].id);
      return r.status === 'dead' && r;
    });
    expect(row.last_error).toMatch(/payload does not match order.status_changed/);
  });

  test('stop() leaves nothing claimed and the service answers no more', async () => {
    const service = await startTestService(db.url);
    await service.stop();
    const { rows } = await db.pool.query(
      `select count(*) as n from outbox where status = 'processing'`,
    );
    expect(Number(rows[0].n)).toBe(0);
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
  });
});
