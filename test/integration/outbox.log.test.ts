import pg from 'pg';
import { acquireLease, declareSubscriptions } from '../../src/outbox/sql/subscriptions';
import { advance, isLogError, LOG_ERRORS, nextEvents, runSqlBatch } from '../../src/outbox/sql/log';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf, parkedIn, subscriptionRow } from '../helpers/deliveries';

// The log and a subscription's position, through the functions of migration 0050, without a
// service: what a chunk reads, what it writes, and how the position moves, including around a
// writer transaction that commits late. Rows read are counted from the backend's own statistics
// (pg_stat_xact_user_tables), not timed.

let db: TestDatabase;
let client: pg.Client;
let token: string;

/** Counts every event it is given (no unique key: a second delivery would show). */
const EFFECT = `insert into effects (event_id, aggregate_id) select e.id, e.aggregate_id from events e`;
const SUB = 'probe';
const backoff = { baseMs: 1000, maxMs: 60_000 };

beforeEach(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(
    `create table effects (seq bigint generated always as identity, event_id bigint not null,
                           aggregate_id text not null)`,
  );
  await declareSubscriptions(
    client,
    [{ name: SUB, kind: 'sql', eventTypes: ['test.event'] }],
    'now',
  );
  token = (await acquireLease(client, { name: SUB, holder: 'me', leaseMs: 60_000 }))!;
});
afterEach(async () => {
  await client.end();
  await db.drop();
});

/** `perAggregate` events for each of `aggregates` aggregates, in one transaction. */
async function addEvents(aggregates: number, perAggregate: number, type = 'test.event') {
  const { rows } = await client.query<{ id: string }>(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
     select 'thing', a::text, $3, '{}'
       from generate_series(1, $2::int) n, generate_series(1, $1::int) a
      order by n, a
     returning id`,
    [aggregates, perAggregate, type],
  );
  return rows.map((r) => r.id);
}

function batch(limit: number, db: pg.Client | pg.Pool = client, t = token) {
  return runSqlBatch(db, { name: SUB, token: t, limit, effectSql: EFFECT, maxAttempts: 10 });
}

async function effects(): Promise<string[]> {
  const { rows } = await client.query<{ event_id: string }>(
    'select event_id from effects order by seq',
  );
  return rows.map((r) => r.event_id);
}

/** Rows of `table` this backend read so far in its transaction. */
async function rowsRead(table: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select seq_tup_read + coalesce(idx_tup_fetch, 0) as n
       from pg_stat_xact_user_tables where relname = $1`,
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

/** One chunk in a transaction that is rolled back; the rows it read of the log and of parked. */
async function readsOfOneChunk(limit: number) {
  await client.query('begin');
  try {
    const [log0, parked0] = [await rowsRead('outbox'), await rowsRead('outbox_parked')];
    const result = await batch(limit);
    return {
      read: result.read,
      log: (await rowsRead('outbox')) - log0,
      parked: (await rowsRead('outbox_parked')) - parked0,
    };
  } finally {
    await client.query('rollback');
  }
}

test('a chunk delivers in id order, each event once, and the position moves past it', async () => {
  const ids = await addEvents(3, 2);
  await addEvents(1, 1, 'other.event');
  const first = await batch(4);
  expect(first).toMatchObject({ read: 4, exhausted: false, waiting: 0 });
  expect(first.handled.map((h) => h.id)).toEqual(ids.slice(0, 4));
  const second = await batch(4);
  // The rest of the batch, and the event of another type read past (not owed).
  expect(second).toMatchObject({ read: 3, exhausted: true });
  expect(second.handled.map((h) => h.id)).toEqual(ids.slice(4));
  expect(await batch(4)).toMatchObject({ read: 0, handled: [] });
  expect(await effects()).toEqual(ids);
  const sub = await subscriptionRow(client, SUB);
  expect(sub).toMatchObject({ batch_snapshot: null, batch_cursor: '0', attempts: 1 });
  expect(await deliveryOf(client, ids[5]!, SUB)).toMatchObject({
    state: 'done',
  });
});

test('an effect that fails fails the statement: nothing written, the position unmoved', async () => {
  await addEvents(2, 1);
  const refusing = `insert into effects (event_id, aggregate_id)
                    select e.id, (1 / (e.aggregate_id::int - 2))::text from events e`;
  await expect(
    runSqlBatch(client, { name: SUB, token, limit: 10, effectSql: refusing, maxAttempts: 10 }),
  ).rejects.toThrow(/division by zero/);
  expect(await effects()).toEqual([]);
  expect((await batch(10)).read).toBe(2);
});

test('an event whose aggregate has a parked event waits behind it; the others are handled', async () => {
  const [a1, b1, a2, b2] = await addEvents(2, 2);
  // Event a1 failed earlier: parked, to be retried.
  const rows = await nextEvents(client, { name: SUB, token, limit: 1 });
  await advance(client, {
    name: SUB,
    token,
    cursor: rows[0]!.id,
    exhausted: false,
    parked: [
      {
        event_id: a1!,
        aggregate_type: 'thing',
        aggregate_id: '1',
        state: 'retrying',
        attempts: 1,
        last_error: 'refused',
      },
    ],
    backoff,
  });
  const result = await batch(10);
  expect(result.handled.map((h) => h.id)).toEqual([b1, b2]);
  expect(result.waiting).toBe(1);
  const parked = await parkedIn(client, SUB);
  expect(parked.map((p) => [p.event_id, p.state, p.attempts])).toEqual([
    [a1, 'retrying', 1],
    [a2, 'retrying', 0],
  ]);
  expect(parked[1].available_at).toEqual(Infinity);
});

test('a former lease holder can neither read as the owner nor move the position', async () => {
  await addEvents(1, 1);
  await client.query(`update outbox_subscriptions set lease_until = now() - interval '1 s'`);
  const other = await acquireLease(client, { name: SUB, holder: 'other', leaseMs: 60_000 });
  expect(other).toBeDefined();
  const stale = await batch(10).catch((err) => err);
  expect(isLogError(stale, LOG_ERRORS.leaseLost)).toBe(true);
  expect(await effects()).toEqual([]);
  expect((await batch(10, client, other!)).read).toBe(1);
});

test('a writer transaction that commits late: its events come once it does, the others are not held back', async () => {
  const writer = new pg.Client({ connectionString: db.url });
  await writer.connect();
  try {
    const before = await addEvents(1, 1);
    await writer.query('begin');
    // Its event gets an id before the ones committed after it.
    const { rows } = await writer.query<{ id: string }>(
      `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       values ('thing', 'late', 'test.event', '{}') returning id`,
    );
    const late = rows[0]!.id;
    const others: string[] = [];
    const drain = async () => {
      while ((await batch(7)).read > 0);
    };
    for (let i = 0; i < 5; i++) {
      others.push(...(await addEvents(20, 1)));
      await drain();
    }
    // Everything committed was delivered, though a lower id is still open.
    expect(BigInt(late)).toBeLessThan(BigInt(others[0]!));
    expect(await effects()).toEqual([...before, ...others]);
    // Not committed: nobody sees it yet.
    expect(await deliveryOf(client, late, SUB)).toBeUndefined();
    await writer.query('commit');
    await drain();
    await drain();
    expect(await effects()).toEqual([...before, ...others, late]);
  } finally {
    await writer.end();
  }
});

/** Moves the position past everything in the log (as if it had all been delivered). */
async function skipToNow(): Promise<void> {
  await client.query(
    `update outbox_subscriptions
        set snapshot = pg_current_snapshot(), batch_snapshot = null, batch_cursor = 0`,
  );
}

test('a batch reads what it holds, however long the log behind its position', async () => {
  // Plans made while the log was small, and cached (well past the five runs after which
  // PostgreSQL may keep a generic plan), must still read only what they need once it is large.
  for (let i = 0; i < 10; i++) {
    await addEvents(5, 2);
    await batch(500);
  }
  await addEvents(10_000, 5);
  await skipToNow();
  await addEvents(1_000, 1);
  // Opening a batch reads the ids of its events once; each chunk then reads its own rows.
  const first = await readsOfOneChunk(500);
  expect(first.read).toBe(500);
  expect(first.log).toBeLessThan(1_000 + 500 + 100);
  await batch(500);
  const second = await readsOfOneChunk(300);
  expect(second.read).toBe(300);
  expect(second.log).toBeLessThan(400);
});

test('planned on the statistics of an empty log, a batch after a long log still reads little', async () => {
  await client.query('analyze outbox');
  await addEvents(10_000, 3);
  await skipToNow();
  await addEvents(5, 1);
  const reads = await readsOfOneChunk(5);
  expect(reads.read).toBe(5);
  expect(reads.log).toBeLessThan(100);
});

test('200,000 parked events do not change what a fresh chunk reads', async () => {
  await addEvents(2_000, 1);
  const without = await readsOfOneChunk(500);
  // Another 200,000 events of other aggregates, parked (a long outage of a sink, then failures).
  await client.query(
    `with e as (
       insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       select 'parked', n::text, 'test.event', '{}' from generate_series(1, 200000) n
       returning id, aggregate_id)
     insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state,
                                attempts, available_at)
     select $1, e.id, 'parked', e.aggregate_id, 'retrying', 1, now() + interval '1 hour' from e`,
    [SUB],
  );
  // The position past them (as after the outage), then the same fresh events again.
  await client.query('analyze');
  await skipToNow();
  await addEvents(2_000, 1);
  const withParked = await readsOfOneChunk(500);
  expect(withParked.read).toBe(without.read);
  expect(withParked.log).toBeLessThanOrEqual(without.log + 10);
  // Each event probes the parked index for its aggregate (none of theirs is there); the earliest
  // retry's time is one row.
  expect(withParked.parked).toBeLessThanOrEqual(1);
});
