import type { TransactionalHandler } from '../../src/outbox/handler';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { waitUntilDelivered } from '../helpers/deliveries';
import { addOrders } from '../helpers/orders-load';
import { createCallLog, inIdOrder, recordingHandler } from '../helpers/recording-handler';
import type { Service } from '../../src/service';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Three instances on one database share its subscriptions by lease: 5,000 events over 200 orders,
// and an instance that stops in the middle hands its subscriptions over.

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

/** A transactional handler whose effect has no unique key: only the lease keeps it single. */
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
async function writeLoad(orders: number[], rounds: number): Promise<void> {
  await Promise.all(
    [0, 1, 2, 3].map(async (lane) => {
      const mine = orders.filter((_, i) => i % 4 === lane);
      for (let round = 0; round < rounds; round++)
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

test('three instances: each event delivered once per subscription, each order in commit order, through a hand-over', async () => {
  const orders = await addOrders(db.pool, ORDERS);
  const log = createCallLog();
  const instances: Service[] = [];
  for (const by of ['a', 'b', 'c'])
    instances.push(
      await startTestService(db.url, {
        env: { OUTBOX_BATCH_SIZE: '50' },
        handlers: [effectWriter(by), recordingHandler(log, { by })],
      }),
    );

  // A fifth of the load, then the instance holding the external subscription stops (a deploy):
  // the others take its subscriptions over and the rest of the load goes to them.
  await writeLoad(orders, ROUNDS / 5);
  const at = await waitFor('a holder of the recorder subscription that has delivered', () => {
    const i = instances.findIndex((s) => s.dispatcher.held().includes('recorder'));
    return i >= 0 && log.calls.some((c) => c.by === 'abc'[i]) && i + 1;
  });
  const holder = instances[at - 1]!;
  const writing = writeLoad(orders, ROUNDS - ROUNDS / 5);
  await holder.stop();
  await writing;

  const { rows: events } = await db.pool.query<{ id: string; order: string }>(
    `select id, aggregate_id as order from outbox where event_type = 'order.status_changed' order by id`,
  );
  expect(events).toHaveLength(ORDERS * ROUNDS);
  await waitUntilDelivered(db.pool, ['effect-writer', 'recorder'], 30_000);

  // Once per subscription: the external one across instances (its calls), the transactional one
  // in the database (an effect table without a unique key).
  expect(log.duplicates()).toEqual([]);
  expect(log.calls).toHaveLength(events.length);
  const { rows: effects } = await db.pool.query<{ id: string; order: string; by: string }>(
    'select event_id as id, order_id as order, by_instance as by from effects order by seq',
  );
  expect(new Set(effects.map((e) => e.id)).size).toBe(effects.length);
  expect(effects).toHaveLength(events.length);

  // In commit order per order, for both subscriptions.
  const expected = byOrder(events);
  const handled = log.byAggregate();
  const written = byOrder(effects);
  const outOfOrder = [...expected].filter(
    ([order, ids]) =>
      !inIdOrder(handled.get(order) ?? []) ||
      handled.get(order)?.join() !== ids.join() ||
      written.get(order)?.join() !== ids.join(),
  );
  expect(outOfOrder.map(([order]) => order)).toEqual([]);

  // The recorder subscription was delivered by more than one instance: handed over mid-way.
  expect(new Set(log.calls.map((c) => c.by)).size).toBeGreaterThanOrEqual(2);
});
