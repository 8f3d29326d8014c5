import pg from 'pg';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate';
import type { Logger } from '../../src/observability/logger';

/** How many orders the bench database holds: writers spread over them, so rarely collide. */
export const BENCH_ORDERS = 10_000;

/** The built-in subscription: one `notifications` row per order.status_changed event. */
export const BUILT_IN = 'notify-client';

/** An inclusive range of outbox ids (bigint, as text). */
export interface IdRange {
  from: string;
  to: string;
}

/**
 * A fresh, migrated database on the bench server, with clients and BENCH_ORDERS orders.
 * `migrationsDir`: another set of migrations (the c0c2466 baseline's, bench/baselines/).
 */
export async function createBenchDatabase(
  serverUrl: string,
  name: string,
  logger: Logger,
  migrationsDir = MIGRATIONS_DIR,
): Promise<{ url: string; pool: pg.Pool }> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1`, [
      name,
    ]);
    await admin.query(`drop database if exists ${admin.escapeIdentifier(name)}`);
    await admin.query(`create database ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 40 });
  // An idle connection cut by the server (its stop at the end of the bench) is not a failure.
  pool.on('error', () => undefined);
  await migrate(pool, logger, migrationsDir);
  await seedOrders(pool, BENCH_ORDERS);
  return { url: url.toString(), pool };
}

/** 100 clients, `count` orders with status 'pending'; the capture trigger of inserts is bypassed. */
async function seedOrders(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(`insert into clients (name, email)
                    select 'client ' || g, 'client' || g || '@example.com'
                      from generate_series(1, 100) g`);
  await pool.query(`alter table orders disable trigger _500_orders_capture_created`);
  await pool.query(
    `insert into orders (client_id, status) select 1 + g % 100, 'pending' from generate_series(1, $1) g`,
    [count],
  );
  await pool.query(`alter table orders enable trigger _500_orders_capture_created`);
  await pool.query('vacuum analyze');
}

/**
 * The writers' statement: flips the status of one order, so the capture trigger fires every time.
 * Same text with the triggers on or off, and on the c0c2466 baseline's schema.
 */
export const FLIP_STATUS = {
  name: 'bench.flip_status',
  text: `update orders set status = case when status = 'paid' then 'packed' else 'paid' end
          where id = $1`,
};

export function randomOrderId(): number {
  return 1 + Math.floor(Math.random() * BENCH_ORDERS);
}

/**
 * A backlog of `events` real events (the capture trigger's own payloads), committed at once:
 * `events / BENCH_ORDERS` rounds of one UPDATE over every order, in one transaction.
 * Returns the id range [from, to] of the new rows.
 */
export async function createBacklog(pool: pg.Pool, events: number): Promise<IdRange> {
  const before = await lastOutboxId(pool);
  const client = await pool.connect();
  try {
    await client.query('begin');
    let left = events;
    while (left > 0) {
      const n = Math.min(left, BENCH_ORDERS);
      await client.query(
        `update orders set status = case when status = 'paid' then 'packed' else 'paid' end
          where id <= $1`,
        [n],
      );
      left -= n;
    }
    // Nothing else writes to the bench database meanwhile: the new rows are those above `before`.
    const to = await lastOutboxId(client);
    await client.query('commit');
    return { from: String(BigInt(before) + 1n), to };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The events written since `before` (the writers are done): undefined when there are none. */
export async function rangeSince(
  pool: Pick<pg.Pool, 'query'>,
  before: string,
): Promise<IdRange | undefined> {
  const to = await lastOutboxId(pool);
  return BigInt(to) > BigInt(before) ? { from: String(BigInt(before) + 1n), to } : undefined;
}

/**
 * Waits until the built-in subscription owes nothing in `range`: as many notifications as events
 * it takes there (a cheap count on notifications' event_id index while it drains), then confirmed
 * once with the outbox_delivery view (every event of the range 'done' for notify-client). An event
 * parked there fails the bench at once: the built-in record is not meant to fail here.
 */
export async function waitDrained(pool: pg.Pool, range: IdRange, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { rows: owedRows } = await pool.query<{ n: string }>(
    `select count(*) as n from outbox o
      where o.id between $1 and $2
        and (select s.event_types is null or o.event_type = any (s.event_types)
               from outbox_subscriptions s where s.name = $3)`,
    [range.from, range.to, BUILT_IN],
  );
  const owed = Number(owedRows[0]!.n);
  for (;;) {
    const { rows } = await pool.query<{ handled: string; parked: boolean }>(
      `select (select count(*) from notifications where event_id between $1 and $2) as handled,
              exists (select 1 from outbox_parked
                       where subscription = $3 and event_id between $1 and $2) as parked`,
      [range.from, range.to, BUILT_IN],
    );
    if (rows[0]!.parked) {
      throw new Error(`${BUILT_IN} parked events of outbox ids ${range.from}-${range.to}`);
    }
    if (Number(rows[0]!.handled) >= owed) {
      const { rows: open } = await pool.query<{ n: string }>(
        `select count(*) as n from outbox_delivery
          where subscription = $3 and event_id between $1 and $2 and state <> 'done'`,
        [range.from, range.to, BUILT_IN],
      );
      if (Number(open[0]!.n) === 0) return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${BUILT_IN}: outbox ids ${range.from}-${range.to} not drained after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until `range` is drained, then returns events/s. Each notification's created_at is now()
 * of the batch transaction that wrote it, so the events of one batch share it: between the first
 * batch's start and the last batch's start, every batch but the last was handled. The rate is
 * (events - last batch) / (last start - first start), which neither counts the last batch in no
 * time nor misses the first one.
 */
export async function drainRate(pool: pg.Pool, range: IdRange, timeoutMs: number): Promise<number> {
  await waitDrained(pool, range, timeoutMs);
  const { rows } = await pool.query<{ n: string; last_batch: string; seconds: number }>(
    `with h as (select created_at from notifications where event_id between $1 and $2)
     select count(*) as n,
            count(*) filter (where created_at = (select max(created_at) from h)) as last_batch,
            extract(epoch from max(created_at) - min(created_at))::float8 as seconds
       from h`,
    [range.from, range.to],
  );
  const r = rows[0]!;
  return r.seconds > 0 ? (Number(r.n) - Number(r.last_batch)) / r.seconds : NaN;
}

/**
 * Commit -> handled of each event in `range`, in ms: notifications.created_at (now() of the
 * dispatcher's batch transaction) - outbox.created_at (clock_timestamp() in the capture trigger,
 * just before the writer commits).
 */
export async function handledLatencies(pool: pg.Pool, range: IdRange): Promise<number[]> {
  const { rows } = await pool.query<{ ms: number }>(
    `select extract(epoch from n.created_at - o.created_at)::float8 * 1000 as ms
       from outbox o join notifications n on n.event_id = o.id
      where o.id between $1 and $2`,
    [range.from, range.to],
  );
  return rows.map((r) => r.ms);
}

export async function lastOutboxId(pool: Pick<pg.Pool, 'query'>): Promise<string> {
  const { rows } = await pool.query<{ id: string | null }>('select max(id) as id from outbox');
  return rows[0]!.id ?? '0';
}
