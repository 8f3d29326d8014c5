import type pg from 'pg';

/** Adds `count` orders (client 1..5 of the seed) and returns their ids. */
export async function addOrders(pool: pg.Pool, count: number): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(
    `insert into orders (client_id, status)
     select 1 + g % 5, 'pending' from generate_series(1, $1) g
     returning id`,
    [count],
  );
  return rows.map((r) => r.id);
}

/**
 * Moves every order of `orderIds` to its next status, `rounds` times, one UPDATE per order per
 * round in autocommit (each is its own transaction, as from the API), with `lanes` connections.
 * Returns the number of updates (each made exactly one event).
 */
export async function cycleStatuses(
  pool: pg.Pool,
  orderIds: number[],
  rounds: number,
  lanes = 4,
): Promise<number> {
  let updates = 0;
  const perLane = Array.from({ length: lanes }, (_, lane) =>
    orderIds.filter((_, i) => i % lanes === lane),
  );
  await Promise.all(
    perLane.map(async (ids) => {
      for (let round = 0; round < rounds; round++) {
        for (const id of ids) {
          await pool.query(
            `update orders set status = case status
               when 'pending' then 'paid' when 'paid' then 'packed' when 'packed' then 'shipped'
               when 'shipped' then 'delivered' when 'delivered' then 'cancelled' else 'pending' end
             where id = $1`,
            [id],
          );
          updates++;
        }
      }
    }),
  );
  return updates;
}

/** Ids of the status-change events, in id order. */
export async function statusChangeIds(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `select id from outbox where event_type = 'order.status_changed' order by id`,
  );
  return rows.map((r) => r.id);
}
