import type { TransactionalHandler } from '../../src/outbox/handler';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf, subscriptionRow } from '../helpers/deliveries';
import {
  createCallLog,
  recordingHandler,
  type CallLog,
  type HandledCall,
} from '../helpers/recording-handler';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// A subscription's lease, with two instances on one database: kept while its holder lives,
// taken over when it runs out, and a former holder fenced out by the token.

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  // An effect table without a unique key: only the lease and the transaction keep it single.
  await db.pool.query(`create table effects (event_id bigint not null, attempt int not null)`);
});
afterEach(async () => {
  await stopAllServices();
  await db.drop();
});

const env = { OUTBOX_LEASE_MS: '1000', OUTBOX_POLL_INTERVAL_MS: '100' };

/** Writes one `effects` row per event, in the transaction that moves the position. */
function effectWriter(
  behave?: (ids: string[]) => Promise<void>,
): TransactionalHandler<'order.status_changed'> {
  return {
    kind: 'transactional',
    name: 'effect-writer',
    eventTypes: ['order.status_changed'],
    async handleBatch(events, tx) {
      await behave?.(events.map((e) => e.id));
      for (const e of events)
        await tx.query('insert into effects (event_id, attempt) values ($1, $2)', [
          e.id,
          e.attempt,
        ]);
    },
  };
}

async function startTwo(log: CallLog, behave: (call: HandledCall) => Promise<void>) {
  for (const by of ['a', 'b'])
    await startTestService(db.url, {
      env,
      handlers: [recordingHandler(log, { by, behave }), effectWriter()],
    });
}

async function lastEvent(): Promise<string> {
  const { rows } = await db.pool.query(`select max(id) as id from outbox`);
  return rows[0].id;
}

test('a delivery running longer than the lease keeps it: nobody else runs the event', async () => {
  const log = createCallLog();
  await startTwo(log, async () => {
    // Run until the lease was pushed 2.5 terms past the one of the start: without renewal, the
    // other instance takes the subscription over after one term. (Gives up after 5 s so that the
    // test can fail.)
    const first = (await subscriptionRow(db.pool, 'recorder')).lease_until.getTime();
    await waitFor(
      'the lease to be extended 2.5 terms',
      async () =>
        (await subscriptionRow(db.pool, 'recorder')).lease_until.getTime() > first + 2_500,
      { timeoutMs: 5_000, intervalMs: 100 },
    ).catch(() => undefined);
  });
  await db.pool.query(`update orders set status = 'shipped' where id = 1`);
  const id = await lastEvent();
  await waitFor(
    'the event delivered',
    async () => (await deliveryOf(db.pool, id, 'recorder'))?.state === 'done',
  );
  expect(log.calls.map((c) => c.attempt)).toEqual([1]);
});

test('a holder that lost its lease mid-delivery cannot move the position: the new holder does', async () => {
  const log = createCallLog();
  let tokenBefore = 0;
  await startTwo(log, async (call) => {
    if (log.calls.length !== 1) return;
    // Simulate a holder stalled past its lease (a GC pause, renewals that do not get through):
    // its lease runs out, again after each renewal that still gets through, until the other
    // instance has taken the subscription over...
    const held = await subscriptionRow(db.pool, 'recorder');
    tokenBefore = Number(held.lease_token);
    await waitFor(
      'the other instance to take the subscription over',
      async () => {
        await db.pool.query(
          `update outbox_subscriptions set lease_until = now() - interval '1 second'
            where name = 'recorder' and lease_holder = $1`,
          [held.lease_holder],
        );
        return (await subscriptionRow(db.pool, 'recorder')).lease_holder !== held.lease_holder;
      },
      { intervalMs: 50 },
    );
    // ...which comes back only after the other instance took the subscription over and
    // delivered the event.
    await waitFor('the other instance to deliver the event', async () => {
      const d = await deliveryOf(db.pool, call.id, 'recorder');
      return d?.state === 'done';
    });
  });
  await db.pool.query(`update orders set status = 'shipped' where id = 1`);
  const id = await lastEvent();
  await waitFor('two calls', () => log.calls.length === 2);
  // At least once: both instances called, the taken-over delivery counted as a second try.
  expect(log.calls.map((c) => [c.id, c.attempt])).toEqual([
    [id, 1],
    [id, 2],
  ]);
  expect(new Set(log.calls.map((c) => c.by)).size).toBe(2);
  const after = await subscriptionRow(db.pool, 'recorder');
  expect(Number(after.lease_token)).toBeGreaterThan(tokenBefore);
  // The stalled holder's own advance was refused (it would have said "lease lost" and written
  // nothing); the event is done once, nothing is parked.
  await stopAllServices();
  expect(await deliveryOf(db.pool, id, 'recorder')).toMatchObject({ state: 'done' });
  const { rows } = await db.pool.query(`select * from outbox_parked`);
  expect(rows).toEqual([]);
});

test('a lease running out in the middle of an in-transaction chunk: the effect is written once', async () => {
  // A chunk stalls (a GC pause) while its lease keeps being made to run out; the other instance
  // tries to take the subscription over. The stalled chunk holds its subscription's row (locked by
  // the read): the lease cannot be moved until its transaction ends, and the new holder then reads
  // past what it wrote. (Without the lock and the token, both write the chunk's effects.)
  let stall: (() => void) | undefined;
  const stalled = new Promise<void>((resolve) => (stall = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const slow = effectWriter(async () => {
    if (!stall) return;
    stall();
    stall = undefined;
    await released;
  });
  const a = await startTestService(db.url, { env, handlers: [slow] });
  await waitFor('the first instance to hold the subscription', () =>
    a.dispatcher.held().includes('effect-writer'),
  );
  await startTestService(db.url, { env, handlers: [effectWriter()] });
  await db.pool.query(`update orders set status = 'shipped' where id in (1, 2, 3)`);
  await stalled;
  const holder = a.dispatcher.workerId;
  const deadline = Date.now() + 3_000; // three leases
  while (Date.now() < deadline) {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local lock_timeout = '200ms'`);
      await client.query(
        `update outbox_subscriptions set lease_until = now() - interval '1 second'
          where name = 'effect-writer' and lease_holder = $1`,
        [holder],
      );
      await client.query('commit');
    } catch {
      await client.query('rollback'); // the row is locked by the stalled chunk: as it should be
    } finally {
      client.release();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  release();
  await db.pool.query(`update orders set status = 'delivered' where id in (1, 2, 3)`);
  const { rows: events } = await db.pool.query(
    `select id from outbox where event_type = 'order.status_changed' order by id`,
  );
  await waitFor(
    'every event delivered',
    async () => {
      for (const e of events)
        if ((await deliveryOf(db.pool, e.id, 'effect-writer'))?.state !== 'done') return false;
      return true;
    },
    { timeoutMs: 20_000 },
  );
  await stopAllServices();
  const { rows: effects } = await db.pool.query(`select event_id from effects order by event_id`);
  expect(effects.map((e) => e.event_id)).toEqual(events.map((e) => e.id));
});
