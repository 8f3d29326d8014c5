import type pg from 'pg';

// Reading the log at a subscription's position and moving it on (migration 0050). Every statement
// names the lease token: the functions raise OB001 when it is no longer current, so a former
// holder (stalled past its lease) can neither read as the owner nor move the position.

type Db = Pick<pg.Pool, 'query'>;

/** SQLSTATEs raised by the log's functions (migration 0050). */
export const LOG_ERRORS = {
  /** The lease token is not the subscription's current one: another instance took it over. */
  leaseLost: 'OB001',
  /** The subscription does not exist. */
  noSubscription: 'OB002',
  /** The tries of the event at the position are used up (outbox_run_sql_batch refuses). */
  triesUsedUp: 'OB003',
  /** An operator's move of a position is refused, with the reason (outbox_move, 0051). */
  refused: 'OB004',
} as const;

export function isLogError(err: unknown, code: (typeof LOG_ERRORS)[keyof typeof LOG_ERRORS]) {
  return (err as { code?: unknown } | null)?.code === code;
}

/** One event as a subscription reads it (the composite type outbox_event). */
export interface LogEventRow {
  /** bigint: a string, as it may exceed 2^53. */
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  /** Null when the subscription does not take this type. */
  payload: unknown;
  created_at: Date;
  /** The subscription takes this event type. */
  owed: boolean;
  /** An earlier event of its aggregate is parked in this subscription: it must wait behind it. */
  blocked: boolean;
  /** Which try of this event this is (1 the first). */
  attempt: number;
}

/**
 * The subscription's next events from its position, at most `limit`, in id order, owed or not (the
 * last one read is where the chunk ends). Opens a batch when none is open.
 */
export async function nextEvents(
  db: Db,
  args: { name: string; token: string; limit: number },
): Promise<LogEventRow[]> {
  const { rows } = await db.query<LogEventRow>({
    text: `select * from outbox_next_events($1, $2, $3) order by id`,
    values: [args.name, args.token, args.limit],
  });
  return rows;
}

/** An event a subscription parks: failed (retrying or dead), or waiting behind one. */
export interface ParkedEvent {
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  state: 'retrying' | 'dead' | 'waiting';
  attempts: number;
  last_error?: string;
  /** The delivery's own hint (Retry-After); the backoff is never shorter. */
  retry_after_ms?: number;
}

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

/**
 * Moves the position past the events read up to `cursor` (to the end of the batch when
 * `exhausted`) and parks `parked`, in one statement. Returns when the earliest parked retry of the
 * subscription is due (null: none).
 */
export async function advance(
  db: Db,
  args: {
    name: string;
    token: string;
    cursor: string;
    exhausted: boolean;
    parked: ParkedEvent[];
    backoff: BackoffSettings;
  },
): Promise<Date | null> {
  const { rows } = await db.query<{ next_retry_at: Date | null }>({
    text: `select outbox_advance($1, $2, $3, $4, $5, $6, $7) as next_retry_at`,
    values: [
      args.name,
      args.token,
      args.cursor,
      args.exhausted,
      JSON.stringify(args.parked),
      args.backoff.baseMs,
      args.backoff.maxMs,
    ],
  });
  return rows[0]?.next_retry_at ?? null;
}

/** An event the one-statement batch handled, for metrics and the live page. */
export interface HandledEvent {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  /** Of the payload, only what describes the change: { op, old, new }. */
  payload: { op: string | null; old: unknown; new: unknown };
  created_at: Date;
  attempt: number;
}

export interface SqlBatchResult {
  /** Events read (owed or not). */
  read: number;
  /** The batch ended with this chunk. */
  exhausted: boolean;
  handled: HandledEvent[];
  /** Events parked behind an earlier event of their aggregate. */
  waiting: number;
  nextRetryAt: Date | null;
}

/**
 * One chunk of a subscription whose effect is one SQL statement, in one statement: read, run the
 * effect over the events it handles (the relation `events`), park those held back, move the
 * position (outbox_run_sql_batch). If the effect fails, nothing was written.
 */
export async function runSqlBatch(
  db: Db,
  args: { name: string; token: string; limit: number; effectSql: string; maxAttempts: number },
): Promise<SqlBatchResult> {
  const { rows } = await db.query<{
    read: number;
    exhausted: boolean;
    waiting: number;
    next_retry_at: Date | null;
    handled:
      [string, string, string, string, string, number, string | null, unknown, unknown][] | null;
  }>({
    text: `select * from outbox_run_sql_batch($1, $2, $3, $4, $5)`,
    values: [args.name, args.token, args.limit, args.effectSql, args.maxAttempts],
  });
  const r = rows[0]!;
  const handled = (r.handled ?? []).map(
    ([id, eventType, aggregateType, aggregateId, createdAt, attempt, op, old, next]) => ({
      id,
      aggregate_type: aggregateType,
      aggregate_id: aggregateId,
      event_type: eventType,
      payload: { op, old, new: next },
      created_at: new Date(createdAt),
      attempt,
    }),
  );
  return {
    read: r.read,
    exhausted: r.exhausted,
    handled,
    waiting: r.waiting,
    nextRetryAt: r.next_retry_at,
  };
}

/**
 * Runs an SQL effect over the given events in the caller's transaction, as the one-statement batch
 * does: the relation `events` has the columns of the type outbox_event.
 */
export async function runSqlEffect(
  tx: Db,
  effectSql: string,
  events: readonly LogEventRow[],
): Promise<void> {
  await tx.query({
    text: `with events as (select * from jsonb_populate_recordset(null::outbox_event, $1::jsonb))
           ${effectSql}`,
    values: [JSON.stringify(events)],
  });
}

/**
 * The subscription's parked events whose retry is due, at most `limit`, each with its try counted
 * (committed before the caller delivers: a crash still counts it).
 */
export async function dueParkedEvents(
  db: Db,
  args: { name: string; token: string; limit: number },
): Promise<LogEventRow[]> {
  const { rows } = await db.query<LogEventRow>({
    text: `select * from outbox_due_parked($1, $2, $3) order by id`,
    values: [args.name, args.token, args.limit],
  });
  return rows;
}

/** The outcome of one parked event's retry. */
export interface ParkedResult {
  event_id: string;
  ok: boolean;
  dead?: boolean;
  last_error?: string;
  retry_after_ms?: number;
}

/**
 * Records parked events' retries: delivered ones leave, dead ones stay dead, failed ones wait for
 * their backoff; the next event waiting behind a resolved one becomes due. Returns when the
 * earliest parked retry is due (null: none).
 */
export async function settleParked(
  db: Db,
  args: { name: string; token: string; results: ParkedResult[]; backoff: BackoffSettings },
): Promise<Date | null> {
  const { rows } = await db.query<{ next_retry_at: Date | null }>({
    text: `select outbox_settle_parked($1, $2, $3, $4, $5) as next_retry_at`,
    values: [
      args.name,
      args.token,
      JSON.stringify(args.results),
      args.backoff.baseMs,
      args.backoff.maxMs,
    ],
  });
  return rows[0]?.next_retry_at ?? null;
}

/** When the subscription's earliest parked retry is due; null when none is. */
export async function readNextRetryAt(db: Db, name: string): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>({
    text: `select outbox_next_retry_at($1) as at`,
    values: [name],
  });
  return rows[0]?.at ?? null;
}
