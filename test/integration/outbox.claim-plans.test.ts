import pg from 'pg';
import { lockBatch } from '../../src/outbox/sql/claim';
import { lockHandleSettle, oneStatementBatchSql } from '../../src/outbox/sql/one-statement';
import { settleLockedBatch, type Settlement } from '../../src/outbox/sql/settle';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

// Migration 0043 and the unnamed statements of src/outbox/sql: plans made while the outbox was
// small (and cached by the session) must not read the whole table once it is large. Measured in
// rows read, from the backend's own statistics (pg_stat_xact_user_tables), not in time.

let db: TestDatabase;
let client: pg.Client;
beforeEach(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterEach(async () => {
  await client.end();
  await db.drop();
});

/** `perAggregate` pending events for each of `aggregates` orders, inserted without the trigger. */
async function addEvents(aggregates: number, perAggregate: number): Promise<void> {
  await client.query(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
     select 'order', a::text, 'test.event', '{}'
       from generate_series(1, $2::int) n, generate_series(1, $1::int) a
      order by n, a`,
    [aggregates, perAggregate],
  );
}

/** Rows of outbox this backend read so far (the view includes what it has not reported yet). */
async function rowsRead(): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select seq_tup_read + coalesce(idx_tup_fetch, 0) as n
       from pg_stat_xact_user_tables where relname = 'outbox'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** One claim and settle in a transaction that is rolled back; the rows each of them read. */
async function claimAndSettle(limit: number) {
  await client.query('begin');
  try {
    const start = await rowsRead();
    const rows = await lockBatch(client, { limit });
    const claimed = await rowsRead();
    const settlements: Settlement[] = rows.map((r) => ({
      id: r.id,
      status: 'done',
      lastError: null,
      deliveries: {},
      retryAfterMs: null,
    }));
    await settleLockedBatch(client, { baseMs: 1000, maxMs: 60_000 }, settlements);
    const settled = await rowsRead();
    return { count: rows.length, claimRead: claimed - start, settleRead: settled - claimed };
  } finally {
    await client.query('rollback');
  }
}

test('a claim and settle planned on a small outbox still read only what they need once it is large', async () => {
  await addEvents(100, 3);
  // Well past the five runs after which PostgreSQL may keep a generic plan for a statement.
  for (let i = 0; i < 10; i++) expect((await claimAndSettle(500)).count).toBe(100);

  await addEvents(10_000, 3);
  const big = await claimAndSettle(500);
  // The heads only (the oldest open event of each order), in id order, and a few rows read per
  // claimed event: a scan of the open rows for each one would read millions.
  expect(big.count).toBe(500);
  expect(big.claimRead).toBeLessThan(5_000);
  // A settle of a few rows probes them by id (a scan of the table may pay off for hundreds).
  const few = await claimAndSettle(5);
  expect(few.count).toBe(5);
  expect(few.settleRead).toBeLessThan(100);
});

test("the head check probes only open events, never an index of an order's whole history", async () => {
  // While every event is open, the index of all events and the index of open ones hold the same
  // entries, and once rebuilt (REINDEX) the former is the more compact: a plan made then would
  // probe it, and keep walking an order's done events once its history is long. Migration 0044
  // leaves the probe no index but outbox_open_by_aggregate. The claim's own plan, as PostgreSQL
  // ran it, comes back as a notice (auto_explain).
  await client.query(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
     select 'order', (n % 100)::text, 'test.event', '{}' from generate_series(1, 20000) n`,
  );
  await client.query('reindex index outbox_by_aggregate');
  await client.query('analyze outbox');
  const plans: string[] = [];
  client.on('notice', (n) => plans.push(n.message ?? ''));
  await client.query(`load 'auto_explain'`);
  await client.query(`set auto_explain.log_min_duration = 0`);
  await client.query(`set auto_explain.log_nested_statements = on`);
  await client.query(`set auto_explain.log_level = notice`);
  await client.query(`set client_min_messages = notice`);
  expect((await claimAndSettle(500)).count).toBe(100);
  const claimPlan = plans.find((p) => p.includes('Anti Join'));
  expect(claimPlan).toMatch(/Index (Only )?Scan using outbox_open_by_aggregate on outbox earlier/);
  expect(claimPlan).not.toMatch(/using outbox_by_aggregate/);
});

test('the one-statement batch settles by primary key, whatever the statistics say', async () => {
  // Statistics of an empty outbox (a new database), then a backlog: planned as a plain statement,
  // the settle was a hash join over a scan of the whole table (migration 0046).
  await client.query('analyze outbox');
  await addEvents(10_000, 3);
  const statement = oneStatementBatchSql([]);
  await client.query('begin');
  try {
    const start = await rowsRead();
    const handled = await lockHandleSettle(client, statement, { limit: 5, now: 'now' });
    expect(handled).toHaveLength(5);
    expect((await rowsRead()) - start).toBeLessThan(100);
  } finally {
    await client.query('rollback');
  }
});
