// (e) scale: the claim must not slow down as done rows pile up.
import type pg from 'pg';
import { BENCH_ORDERS } from '../lib/bench-db';

/**
 * Inserts `events` pending order.status_changed events in bulk, with payloads shaped like the
 * trigger's (the handler parses them), spread over every order. Returns their id range.
 */
export async function insertPendingEvents(
  pool: pg.Pool,
  events: number,
): Promise<{ from: string; to: string }> {
  const { rows } = await pool.query<{ from: string; to: string }>(
    `with ins as (
       insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       select 'order', o.id::text, 'order.status_changed',
              jsonb_build_object('op', 'update', 'table', 'orders', 'new', to_jsonb(o),
                                 'old', jsonb_build_object('status', 'pending'))
         from generate_series(1, $1::int) r
         join orders o on o.id = 1 + (r - 1) % $2::int
        order by r
       returning id)
     select min(id) as from, max(id) as to from ins`,
    [events, BENCH_ORDERS],
  );
  return rows[0]!;
}

export async function countDone(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select count(*) as n from outbox where status = 'done'`,
  );
  return Number(rows[0]!.n);
}
