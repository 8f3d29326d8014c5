import type { TransactionalHandler } from '../../src/outbox/handler';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { addOrders, waitUntilAllDone } from '../helpers/orders-load';
import { createCallLog, inIdOrder, recordingHandler } from '../helpers/recording-handler';
import { startTestService, stopAllServices } from '../helpers/service';

// Issue 3, 8e: three instances on one database share 5,000 events over 200 orders.

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  await db.pool.query(
    `create table effects (seq bigint generated always as identity, event_id bigint not null,
                           order_id text not null, by_instance text not null)`,
  );
});
afterEach(async () => {
  await stopAllServices();
  await db.drop();
});

/** A transactional handler whose effect has no unique key: only the claim keeps it single. */
function effectWriter(by: string): TransactionalHandler<'order.status_changed'> {
  return {
    kind: 'transactional',
    name: 'effect-writer',
    eventTypes: ['order.status_changed'],
    async handleBatch(events, tx) {
      await tx.query(
        `insert into effects (event_id, order_id, by_instance)
         select e, o, $3 from unnest($1::bigint[], $2::text[]) as u(e, o)`,
        [events.map((e) => e.id), events.map((e) => e.aggregateId), by],
      );
    },
  };
}

/** Four writers, each moving its quarter of the orders on, one transaction per round. */
async function writeLoad(orders: number[]): Promise<void> {
  await Promise.all(
    [0, 1, 2, 3].map(async (lane) => {
      const mine = orders.filter((_, i) => i % 4 === lane);
      for (let round = 0; round < ROUNDS; round++)
        await db.pool.query(
          `update orders set status = case status when 'pending' then 'paid' else 'pending' end
            where id = any($1::int[])`,
          [mine],
        );
    }),
  );
}

/** Events of each order, in id (commit) order. */
function byOrder(rows: { id: string; order: string }[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const r of rows) map.set(r.order, [...(map.get(r.order) ?? []), r.id]);
  return map;
}

const ORDERS = 200;
const ROUNDS = 25; // 200 x 25 = 5,000 status changes

test('three instances: each event handled once per handler, each order in commit order', async () => {
  const orders = await addOrders(db.pool, ORDERS);
  const log = createCallLog();
  for (const by of ['a', 'b', 'c'])
    await startTestService(db.url, {
      env: { OUTBOX_BATCH_SIZE: '50' },
      handlers: [effectWriter(by), recordingHandler(log, { by })],
    });

  await writeLoad(orders);
  const { rows: events } = await db.pool.query<{ id: string; aggregate_id: string }>(
    `select id, aggregate_id from outbox where event_type = 'order.status_changed' order by id`,
  );
  expect(events).toHaveLength(ORDERS * ROUNDS);

  await waitUntilAllDone(db.pool, 30_000);

  // Once per handler: the external one across instances, the transactional one in the database.
  expect(log.duplicates()).toEqual([]);
  expect(log.calls).toHaveLength(events.length);
  const { rows: effects } = await db.pool.query<{ event_id: string; order_id: string }>(
    'select event_id, order_id from effects order by seq',
  );
  expect(new Set(effects.map((e) => e.event_id)).size).toBe(effects.length);
  expect(effects).toHaveLength(events.length);

  // In commit order per order, for both handlers.
  const expected = new Map<string, string[]>();
  for (const e of events)
    expected.set(e.aggregate_id, [...(expected.get(e.aggregate_id) ?? []), e.id]);
  const handled = log.byAggregate();
  const written = new Map<string, string[]>();
  for (const e of effects)
    written.set(e.order_id, [...(written.get(e.order_id) ?? []), e.event_id]);
  const outOfOrder = [...expected].filter(
    ([order, ids]) =>
      !inIdOrder(handled.get(order) ?? []) ||
      handled.get(order)?.join() !== ids.join() ||
      written.get(order)?.join() !== ids.join(),
  );
  expect(outOfOrder.map(([order]) => order)).toEqual([]);

  // The work was shared.
  const byInstance = new Set(log.calls.map((c) => c.by));
  expect(byInstance.size).toBeGreaterThanOrEqual(2);
});

test('three instances with only transactional handlers (batches locked, not leased): once each, in commit order', async () => {
  const orders = await addOrders(db.pool, ORDERS);
  for (const by of ['a', 'b', 'c'])
    await startTestService(db.url, {
      env: { OUTBOX_BATCH_SIZE: '50' },
      handlers: [effectWriter(by)],
    });
  await writeLoad(orders);
  const { rows: events } = await db.pool.query<{ id: string; order: string }>(
    `select id, aggregate_id as order from outbox where event_type = 'order.status_changed' order by id`,
  );
  expect(events).toHaveLength(ORDERS * ROUNDS);
  await waitUntilAllDone(db.pool, 30_000);
  const { rows: effects } = await db.pool.query<{ id: string; order: string; by: string }>(
    'select event_id as id, order_id as order, by_instance as by from effects order by seq',
  );
  expect(effects).toHaveLength(events.length);
  expect(new Set(effects.map((e) => e.id)).size).toBe(effects.length);
  const expected = byOrder(events);
  const written = byOrder(effects);
  const outOfOrder = [...expected].filter(
    ([order, ids]) => written.get(order)?.join() !== ids.join(),
  );
  expect(outOfOrder.map(([order]) => order)).toEqual([]);
  expect(new Set(effects.map((e) => e.by)).size).toBeGreaterThanOrEqual(2);
});
