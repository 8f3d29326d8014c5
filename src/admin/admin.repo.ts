import type pg from 'pg';
import type { OutboxRow } from '../outbox/types';
import type { ListOutboxQuery } from './admin.schema';

export type AdminOutboxRow = OutboxRow & { replay_of: string | null };

// These statements are unnamed on purpose: PostgreSQL plans an unnamed statement with its
// parameter values known, so "$1::text is null or status = $1" folds to "status = 'dead'" and the
// partial indexes (outbox_dead, outbox_open_by_aggregate) and outbox_by_aggregate serve the filters.
// "id > 0" (every id is) lets outbox_by_aggregate serve the aggregate filter: its predicate says
// so, to keep the claim's head check off it (migration 0044).

/** One page of rows, newest first, below `before`. */
export async function listOutboxRows(
  db: Pick<pg.Pool, 'query'>,
  q: ListOutboxQuery,
): Promise<AdminOutboxRow[]> {
  const { rows } = await db.query<AdminOutboxRow>(
    `select id, aggregate_type, aggregate_id, event_type, status, attempts, created_at,
            available_at, processed_at, last_error, replay_of
       from outbox
      where ($1::text is null or status = $1)
        and ($2::text is null or event_type = $2)
        and ($3::text is null or aggregate_type = $3)
        and ($4::text is null or aggregate_id = $4)
        and ($5::bigint is null or id < $5)
        and id > 0
      order by id desc
      limit $6`,
    [
      q.status ?? null,
      q.type ?? null,
      q.aggregateType ?? null,
      q.aggregateId ?? null,
      q.before ?? null,
      q.limit,
    ],
  );
  return rows;
}

export async function findOutboxRow(
  db: Pick<pg.Pool, 'query'>,
  id: string,
): Promise<AdminOutboxRow | undefined> {
  const { rows } = await db.query<AdminOutboxRow>('select * from outbox where id = $1', [id]);
  return rows[0];
}

/**
 * A dead row back in line: pending now, attempts from zero, and the handlers that failed or died
 * run again while the ones that succeeded stay done (their effects happened; the dispatcher skips
 * handlers whose delivery is done). last_error stays until the next attempt overwrites it, so the
 * operator can still see why it died. Only a dead row: anything else returns nothing.
 */
export async function retryDeadRow(
  db: Pick<pg.PoolClient, 'query'>,
  id: string,
): Promise<AdminOutboxRow | undefined> {
  const { rows } = await db.query<AdminOutboxRow>(
    `update outbox
        set status = 'pending',
            attempts = 0,
            available_at = now(),
            locked_by = null,
            locked_until = null,
            deliveries = (select coalesce(jsonb_object_agg(d.key, d.value), '{}'::jsonb)
                            from jsonb_each(outbox.deliveries) d
                           where d.value ->> 'status' = 'done')
      where id = $1 and status = 'dead'
      returning *`,
    [id],
  );
  return rows[0];
}

export interface ReplayRange {
  fromId?: string;
  toId?: string;
  from?: string;
  to?: string;
}

function rangeValues(r: ReplayRange): (string | null)[] {
  return [r.fromId ?? null, r.toId ?? null, r.from ?? null, r.to ?? null];
}

/** How many done events a replay of this range would copy. */
export async function countDoneInRange(
  db: Pick<pg.PoolClient, 'query'>,
  range: ReplayRange,
): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n from outbox
      where status = 'done'
        and ($1::bigint is null or id >= $1) and ($2::bigint is null or id <= $2)
        and ($3::timestamptz is null or created_at >= $3)
        and ($4::timestamptz is null or created_at < $4)`,
    rangeValues(range),
  );
  return Number(rows[0]!.n);
}

/**
 * Re-queues the done events of a range as new events: copies with new ids (new idempotency keys,
 * so sinks that drop duplicates by event id deliver them again), the same aggregate, type and
 * payload, and replay_of naming the original. The originals stay as they were (history).
 */
export async function insertReplayCopies(
  db: Pick<pg.PoolClient, 'query'>,
  range: ReplayRange,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload, replay_of)
     select aggregate_type, aggregate_id, event_type, payload, id
       from outbox
      where status = 'done'
        and ($1::bigint is null or id >= $1) and ($2::bigint is null or id <= $2)
        and ($3::timestamptz is null or created_at >= $3)
        and ($4::timestamptz is null or created_at < $4)
      order by id
     returning id`,
    rangeValues(range),
  );
  return rows.map((r) => r.id);
}

/** Rings the doorbell of every instance's listener (same channel as the capture trigger). */
export async function notifyOutbox(db: Pick<pg.PoolClient, 'query'>): Promise<void> {
  await db.query(`select pg_notify('outbox', '')`);
}
