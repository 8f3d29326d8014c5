import type pg from 'pg';

/** The admin token the tests configure (ADMIN_TOKEN). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

// Response bodies are checked by expect(), not by the type checker.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = any;

/** One admin API call through HTTP, with the token (or `token: null`, none). */
export async function adminCall(
  baseUrl: string,
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; body: JsonBody }> {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}/admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, body: (await res.json()) as JsonBody };
}

/** Changes order `id`'s status (one transaction) and returns the event id it wrote. */
export async function changeOrder(
  pool: pg.Pool,
  id: number,
  status = 'cancelled',
): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `with changed as (
       update orders set status = case when status = $2 then 'pending' else $2 end
        where id = $1 returning id)
     select 1 from changed`,
    [id, status],
  );
  if (rows.length !== 1) throw new Error(`no order ${id}`);
  const last = await pool.query<{ id: string }>(
    `select max(id)::text as id from outbox where aggregate_type = 'order' and aggregate_id = $1`,
    [String(id)],
  );
  return last.rows[0]!.id;
}

/**
 * Everything a dry run must leave alone: the log, every subscription's position, state and lease
 * token, every parked event.
 */
export async function logAndPositions(pool: pg.Pool): Promise<unknown> {
  const { rows } = await pool.query(
    `select (select count(*) from outbox) as events, (select max(id) from outbox) as head,
            (select json_agg(json_build_object(
                       'name', name, 'state', state, 'snapshot', snapshot::text,
                       'origin', origin::text, 'batch', batch_snapshot::text,
                       'cursor', batch_cursor, 'low', batch_low, 'high', batch_high,
                       'token', lease_token) order by name)
               from outbox_subscriptions) as positions,
            (select json_agg(json_build_object(
                       'subscription', subscription, 'event', event_id, 'state', state,
                       'attempts', attempts, 'at', available_at) order by subscription, event_id)
               from outbox_parked) as parked`,
  );
  return rows[0];
}
