import type pg from 'pg';
import type { ListOutboxQuery } from './admin.schema';

type Db = Pick<pg.Pool, 'query'>;

/** An event of the log, as the admin API lists it. */
export interface AdminEventRow {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  created_at: Date;
  replay_of: string | null;
  payload?: unknown;
}

/** One row of the view outbox_delivery. */
export interface DeliveryRow {
  event_id: string;
  subscription: string;
  state: 'pending' | 'done' | 'retrying' | 'dead';
  attempts: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
}

// Unnamed statements: PostgreSQL plans an unnamed statement with its parameter values known, so
// "$1::text is null or ..." folds away and the filters that are given use their indexes.

/** One page of events, newest first, below `before`; `status` keeps those parked that way. */
export async function listEvents(db: Db, q: ListOutboxQuery): Promise<AdminEventRow[]> {
  const { rows } = await db.query<AdminEventRow>(
    `select id, aggregate_type, aggregate_id, event_type, created_at, replay_of
       from outbox e
      where ($1::text is null
             or e.id in (select p.event_id from outbox_parked p
                          where p.state = $1 and ($1 <> 'retrying' or p.attempts > 0)))
        and ($2::text is null or event_type = $2)
        and ($3::text is null or aggregate_type = $3)
        and ($4::text is null or aggregate_id = $4)
        and ($5::bigint is null or id < $5)
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

export async function findEvent(db: Db, id: string): Promise<AdminEventRow | undefined> {
  const { rows } = await db.query<AdminEventRow>(
    `select id, aggregate_type, aggregate_id, event_type, created_at, replay_of, payload
       from outbox where id = $1`,
    [id],
  );
  return rows[0];
}

/** The events' state in every subscription that owes them (outbox_delivery). */
export async function deliveriesOf(db: Db, ids: readonly string[]): Promise<DeliveryRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<DeliveryRow>(
    `select event_id, subscription, state, attempts, last_error, next_attempt_at
       from outbox_delivery
      where event_id = any ($1::bigint[])
      order by event_id, subscription`,
    [ids],
  );
  return rows;
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

/** How many events a replay of this range would copy. */
export async function countInRange(db: Db, range: ReplayRange): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n from outbox
      where ($1::bigint is null or id >= $1) and ($2::bigint is null or id <= $2)
        and ($3::timestamptz is null or created_at >= $3)
        and ($4::timestamptz is null or created_at < $4)`,
    rangeValues(range),
  );
  return Number(rows[0]!.n);
}

/**
 * Appends copies of the events of a range as new events: new ids (new idempotency keys, so sinks
 * that drop duplicates by event id deliver them again), the same aggregate, type and payload, and
 * replay_of naming the original; every subscription that takes their type delivers them again.
 */
export async function insertReplayCopies(db: Db, range: ReplayRange): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload, replay_of)
     select aggregate_type, aggregate_id, event_type, payload, id
       from outbox
      where ($1::bigint is null or id >= $1) and ($2::bigint is null or id <= $2)
        and ($3::timestamptz is null or created_at >= $3)
        and ($4::timestamptz is null or created_at < $4)
      order by id
     returning id`,
    rangeValues(range),
  );
  return rows.map((r) => r.id);
}

/**
 * Events captured in the last minute, counted from the newest backwards (at most 100,000 read:
 * the log has no index on created_at, and a stats call must stay cheap).
 */
export async function capturedLastMinute(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n
       from (select created_at from outbox order by id desc limit 100000) recent
      where created_at > now() - interval '1 minute'`,
  );
  return Number(rows[0]!.n);
}

/** Rings the doorbell of every instance's listener (same channel as the capture trigger). */
export async function notifyOutbox(db: Db): Promise<void> {
  await db.query(`select pg_notify('outbox', '')`);
}
