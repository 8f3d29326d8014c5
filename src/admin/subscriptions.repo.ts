import type pg from 'pg';
import type { ParkedActionBody } from './subscriptions.schema';

// The statements of the subscription routes. The SQL that is more than a statement lives in
// migration 0051 (outbox_set_paused, outbox_move, outbox_create_subscription, outbox_retry_parked,
// outbox_skip_parked); each function here runs one statement.

type Db = Pick<pg.Pool, 'query'>;

/** One subscription with its position, lag and parked counts (the list's row). */
export interface SubscriptionRow {
  name: string;
  kind: string;
  event_types: string[] | null;
  state: 'active' | 'paused' | 'backing_off';
  backoff_until: Date | null;
  last_error: string | null;
  /** While its lease runs. */
  holder: string | null;
  lease_until: Date | null;
  snapshot: string;
  batch_snapshot: string | null;
  batch_cursor: string;
  origin: string;
  created_at: Date;
  behind: string;
  oldest_at: Date | null;
  next_id: string | null;
  next_at: Date | null;
  retrying: string;
  waiting: string;
  dead: string;
}

/**
 * Every subscription (or the one named), read fresh (an operator acting on one must see it as it
 * is): the lag by outbox_subscription_backlog and outbox_subscription_next (index range scans, at
 * most `cap` rows each), the parked counts by index.
 */
export async function listSubscriptions(
  db: Db,
  args: { name?: string; cap: number },
): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<SubscriptionRow>({
    text: `select s.name, s.kind, s.event_types, s.state, s.backoff_until, s.last_error,
                  case when s.lease_until > now() then s.lease_holder end as holder,
                  case when s.lease_until > now() then s.lease_until end as lease_until,
                  s.snapshot::text as snapshot, s.batch_snapshot::text as batch_snapshot,
                  s.batch_cursor, s.origin::text as origin, s.created_at,
                  b.behind, b.oldest as oldest_at, n.id as next_id, n.created_at as next_at,
                  (select count(*) from outbox_parked p
                    where p.subscription = s.name and p.state = 'retrying'
                      and p.available_at < 'infinity') as retrying,
                  (select count(*) from outbox_parked p
                    where p.subscription = s.name and p.state = 'retrying'
                      and p.available_at = 'infinity') as waiting,
                  (select count(*) from outbox_parked p
                    where p.subscription = s.name and p.state = 'dead') as dead
             from outbox_subscriptions s
             cross join lateral outbox_subscription_backlog(s, $1) b
             cross join lateral outbox_subscription_next(s, $1) n
            where $2::text is null or s.name = $2
            order by s.name`,
    values: [args.cap, args.name ?? null],
  });
  return rows;
}

/** Pauses or resumes; false when there is no such subscription. */
export async function setPaused(db: Db, name: string, paused: boolean): Promise<boolean> {
  const { rows } = await db.query<{ name: string | null }>({
    text: `select (outbox_set_paused($1, $2)).name`,
    values: [name, paused],
  });
  return rows[0]?.name != null;
}

/** What outbox_move answers. */
export interface MoveRow {
  target_id: string | null;
  target_at: Date | null;
  deliver_again: string;
  deliver_again_more: boolean;
  skip: string;
  skip_more: boolean;
  kept: string;
  unparked: string;
}

/**
 * Moves a subscription's position to deliver from event `fromId` on (null: forward past every
 * event committed now); see outbox_move for what a rewind and a forward promise. Raises OB002 (no
 * such subscription) and OB004 (refused, with the reason).
 */
export async function movePosition(
  db: Db,
  args: {
    name: string;
    mode: 'rewind' | 'forward';
    fromId: string | null;
    dryRun: boolean;
    cap: number;
  },
): Promise<MoveRow> {
  const { rows } = await db.query<MoveRow>({
    text: `select * from outbox_move($1, $2, $3, $4, $5)`,
    values: [args.name, args.mode, args.fromId, args.dryRun, args.cap],
  });
  return rows[0]!;
}

/** The id of the first event written at or after `at`; null when none is. */
export async function firstEventAt(db: Db, at: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string | null }>({
    text: `select outbox_first_event_at($1) as id`,
    values: [at],
  });
  return rows[0]?.id ?? null;
}

/** Creates a subscription; false when one of that name exists. */
export async function createSubscription(
  db: Db,
  args: {
    name: string;
    kind: string;
    eventTypes: readonly string[] | null;
    start: 'now' | 'oldest' | 'event';
    fromId: string | null;
    paused: boolean;
  },
): Promise<boolean> {
  const { rows } = await db.query<{ name: string | null }>({
    text: `select (outbox_create_subscription($1, $2, $3, $4, $5, $6)).name`,
    values: [args.name, args.kind, args.eventTypes, args.start, args.fromId, args.paused],
  });
  return rows[0]?.name != null;
}

/** A parked event a retry or skip matched. */
export interface ParkedMatch {
  subscription: string;
  event_id: string;
  state: 'retrying' | 'waiting' | 'dead';
  attempts: number;
}

/**
 * The parked events matching the filter, oldest first per subscription, at most `limit` + 1 (the
 * extra one says that more match). `forRetry`: a waiting event is never matched (it waits behind
 * an earlier event of its aggregate; retrying that one moves it). Locks them for the caller's
 * transaction. Unnamed: planned with the filters given.
 */
export async function matchParked(
  db: Db,
  f: ParkedActionBody,
  forRetry: boolean,
): Promise<ParkedMatch[]> {
  const { rows } = await db.query<ParkedMatch>({
    text: `select p.subscription, p.event_id,
                  case when p.state = 'dead' then 'dead'
                       when p.available_at = 'infinity' then 'waiting'
                       else 'retrying' end as state,
                  p.attempts
             from outbox_parked p
             join outbox e on e.id = p.event_id
            where ($1::text is null or p.subscription = $1)
              and ($2::text is null or p.state = $2)
              and not ($3 and p.state = 'retrying' and p.available_at = 'infinity')
              and ($4::bigint is null or p.event_id = $4)
              and ($5::text is null or e.event_type = $5)
              and ($6::text is null or p.aggregate_type = $6)
              and ($7::text is null or p.aggregate_id = $7)
              and ($8::timestamptz is null or e.created_at >= $8)
              and ($9::timestamptz is null or e.created_at < $9)
            order by p.subscription, p.event_id
            limit $10
              for update of p`,
    values: [
      f.subscription ?? null,
      f.state ?? null,
      forRetry,
      f.eventId ?? null,
      f.type ?? null,
      f.aggregateType ?? null,
      f.aggregateId ?? null,
      f.from ?? null,
      f.to ?? null,
      f.limit + 1,
    ],
  });
  return rows;
}

/** Puts a subscription's parked events back in line (outbox_retry_parked); how many. */
export async function retryParked(db: Db, name: string, ids: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>({
    text: `select outbox_retry_parked($1, $2::bigint[]) as n`,
    values: [name, ids],
  });
  return Number(rows[0]!.n);
}

/** Gives up a subscription's parked events (outbox_skip_parked); how many. */
export async function skipParked(db: Db, name: string, ids: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>({
    text: `select outbox_skip_parked($1, $2::bigint[]) as n`,
    values: [name, ids],
  });
  return Number(rows[0]!.n);
}

/**
 * Tells every instance's lanes that an operator changed subscriptions (delivered on commit): they
 * read their state again and look for due retries now (src/outbox/listener.ts).
 */
export async function notifySubscriptionsChanged(db: Db): Promise<void> {
  await db.query(`select pg_notify('outbox', 'subscriptions')`);
}
