import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import type { Logger } from '../../src/observability/logger';

/** How many orders the bench database holds: writers spread over them, so rarely collide. */
export const BENCH_ORDERS = 10_000;

/** A fresh, migrated database on the bench server, with clients and BENCH_ORDERS orders. */
export async function createBenchDatabase(
  serverUrl: string,
  name: string,
  logger: Logger,
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
  await migrate(pool, logger);
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
 * Same text with the triggers on or off.
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
export async function createBacklog(
  pool: pg.Pool,
  events: number,
): Promise<{ from: string; to: string }> {
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

/** Waits until no row in [from, to] is open; returns events/s from first to last processed_at. */
export async function drainRate(
  pool: pg.Pool,
  range: { from: string; to: string },
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ open: string }>(
      `select count(*) as open from outbox
        where id between $1 and $2 and status in ('pending', 'processing')`,
      [range.from, range.to],
    );
    if (Number(rows[0]!.open) === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `drain of outbox ids ${range.from}-${range.to} not done after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const { rows } = await pool.query<{ n: string; seconds: number }>(
    `select count(*) as n, extract(epoch from max(processed_at) - min(processed_at))::float8 as seconds
       from outbox where id between $1 and $2`,
    [range.from, range.to],
  );
  return Number(rows[0]!.n) / rows[0]!.seconds;
}

/** Percentiles of commit -> handled (processed_at - created_at) for events with ids above `after`. */
export async function handledLatencies(pool: pg.Pool, afterId: string): Promise<number[]> {
  const { rows } = await pool.query<{ ms: number }>(
    `select extract(epoch from processed_at - created_at)::float8 * 1000 as ms
       from outbox where id > $1 and status = 'done'`,
    [afterId],
  );
  return rows.map((r) => r.ms);
}

export async function lastOutboxId(pool: Pick<pg.Pool, 'query'>): Promise<string> {
  const { rows } = await pool.query<{ id: string | null }>('select max(id) as id from outbox');
  return rows[0]!.id ?? '0';
}
