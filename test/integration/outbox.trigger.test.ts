import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf } from '../helpers/deliveries';
import { waitFor } from '../helpers/wait';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
});
afterAll(() => db.drop());

async function outboxFor(orderId: number) {
  const { rows } = await db.pool.query(
    `select id, xid::text as xid, event_type, aggregate_type, aggregate_id, payload
       from outbox where aggregate_type = 'order' and aggregate_id = $1 order by id`,
    [String(orderId)],
  );
  return rows;
}

describe('capture trigger on orders', () => {
  test('a real status change writes exactly one order.status_changed row with old and new values', async () => {
    const before = await outboxFor(5);
    const writer = await db.pool.connect();
    let writerXid: string;
    try {
      await writer.query('begin');
      await writer.query(`update orders set status = 'shipped' where id = 5`);
      writerXid = (await writer.query(`select pg_current_xact_id()::text as xid`)).rows[0].xid;
      await writer.query('commit');
    } finally {
      writer.release();
    }
    const after = await outboxFor(5);
    expect(after).toHaveLength(before.length + 1);
    const event = after.at(-1);
    expect(event).toMatchObject({
      event_type: 'order.status_changed',
      aggregate_type: 'order',
      aggregate_id: '5',
      // The writer's own transaction id: what makes the subscriptions' batches snapshot-safe.
      xid: writerXid,
      payload: {
        op: 'update',
        table: 'orders',
        old: { status: 'packed' },
        new: { id: 5, client_id: 3, status: 'shipped' },
      },
    });
    expect(Date.parse(event.payload.new.updated_at)).toBeGreaterThan(
      Date.parse(event.payload.old.updated_at),
    );
    // Owed to the built-in subscription, which no service has read yet.
    expect(await deliveryOf(db.pool, event.id, 'notify-client')).toMatchObject({
      state: 'pending',
    });
  });

  test('setting the same status again writes nothing', async () => {
    const before = await outboxFor(6);
    await db.pool.query(`update orders set status = status where id = 6`);
    await db.pool.query(`update orders set status = 'paid' where id = 6`); // seed: already paid
    expect(await outboxFor(6)).toHaveLength(before.length);
  });

  test('a change of another column writes nothing', async () => {
    const before = await outboxFor(7);
    await db.pool.query(`update orders set client_id = 1 where id = 7`);
    expect(await outboxFor(7)).toHaveLength(before.length);
  });

  test('one statement changing many orders writes one row per changed order', async () => {
    const { rows } = await db.pool.query<{ n: string }>(`select count(*) as n from outbox`);
    const res = await db.pool.query(
      `update orders set status = 'cancelled' where id in (9, 10, 8)`,
    ); // 8 is already cancelled
    expect(res.rowCount).toBe(3);
    const { rows: after } = await db.pool.query<{ n: string }>(`select count(*) as n from outbox`);
    expect(Number(after[0]!.n) - Number(rows[0]!.n)).toBe(2);
  });

  test('an insert writes order.created', async () => {
    const { rows } = await db.pool.query(`insert into orders (client_id) values (2) returning id`);
    const events = await outboxFor(rows[0].id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'order.created',
      payload: { op: 'insert', new: { status: 'pending' } },
    });
  });

  test('a rolled-back change leaves no event', async () => {
    const before = await outboxFor(11);
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`update orders set status = 'paid' where id = 11`);
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await outboxFor(11)).toHaveLength(before.length);
  });

  test('the commit wakes a LISTEN connection on channel outbox, with an empty payload', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const received: pg.Notification[] = [];
    listener.on('notification', (n) => received.push(n));
    try {
      await listener.query('listen outbox');
      await db.pool.query(`update orders set status = 'delivered' where id = 12`);
      await waitFor('a notification', () => received.length > 0);
      expect(received[0]).toMatchObject({ channel: 'outbox', payload: '' });
    } finally {
      await listener.end();
    }
  });
});

describe('seed data', () => {
  test("the article's query returns the orders of client 2 with their items", async () => {
    const { rows } = await db.pool.query(
      `select o.id as order_id, o.status, i.name as item, oi.quantity
         from orders o
         join order_items oi on oi.order_id = o.id
         join items i on i.id = oi.item_id
        where o.client_id = 2
        order by o.id, i.id`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(4);
    expect(new Set(rows.map((r) => r.order_id))).toEqual(new Set([2, 3, 4, 12]));
  });

  test('applying the seed again changes nothing', async () => {
    const count = async () =>
      (
        await db.pool.query(
          `select (select count(*) from orders) + (select count(*) from order_items) as n`,
        )
      ).rows[0].n;
    const before = await count();
    await db.seed();
    expect(await count()).toBe(before);
  });
});
