import { errorMessage } from '../db/errors';
import { eventPayloadSchemas, isKnownEventType, type OutboxEvent } from './event-types';
import { PermanentError, RetryLaterError } from './handler';
import type { LogEventRow, ParkedEvent, ParkedResult } from './sql/log';

// What becomes of the events a subscription read, decided without a database: which to deliver
// and in what groups, which wait, where the position moves, what is parked, and whether the whole
// subscription backs off. The runners (src/outbox/runners/) do the I/O around these decisions.

const MAX_ERROR_LENGTH = 2000;

/** Why a delivery failed, as the parking rules need it. */
export interface Failure {
  error: string;
  /** Retrying cannot help (PermanentError, a payload that does not parse): dead at once. */
  permanent: boolean;
  /** The handler's own hint (Retry-After). */
  retryAfterMs?: number;
}

export function toFailure(err: unknown): Failure {
  return {
    error: errorMessage(err).slice(0, MAX_ERROR_LENGTH),
    permanent: err instanceof PermanentError,
    retryAfterMs: err instanceof RetryLaterError ? err.retryAfterMs : undefined,
  };
}

/**
 * The event as handlers see it, its payload parsed when its type is one the service knows; a
 * payload that does not match is a permanent failure (retrying cannot fix its content).
 */
export function toOutboxEvent(row: LogEventRow): OutboxEvent | Failure {
  let payload: unknown = row.payload;
  if (isKnownEventType(row.event_type)) {
    const parsed = eventPayloadSchemas[row.event_type].safeParse(row.payload);
    if (!parsed.success) {
      return {
        error: `payload does not match ${row.event_type}: ${parsed.error.message}`.slice(
          0,
          MAX_ERROR_LENGTH,
        ),
        permanent: true,
      };
    }
    payload = parsed.data;
  }
  return {
    id: row.id,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    type: row.event_type,
    payload,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
    attempt: row.attempt,
  } as OutboxEvent;
}

export function isFailure(value: OutboxEvent | Failure): value is Failure {
  return 'permanent' in value;
}

/** What to do with the events read at a subscription's position. */
export interface ChunkPlan {
  /** The events to deliver, grouped by aggregate; each group in id (commit) order. */
  groups: LogEventRow[][];
  /** Owed events held back by an earlier event of their aggregate parked here. */
  waiting: LogEventRow[];
  /**
   * An event whose tries are used up without one finishing (its deliveries crashed the process or
   * never returned): dead without another try.
   */
  exhausted?: LogEventRow;
  /** The last id this chunk consumes: the position moves past it. */
  cursor: string;
  /** The batch ends with this chunk. */
  endsBatch: boolean;
  /** The try this chunk is for its first event. */
  attempt: number;
}

/**
 * Plans a chunk. Normally every event read is consumed. On the last allowed try the chunk is cut
 * after the first event to deliver, so that only it can go dead (the others have had fewer tries);
 * past the last try that event is dead without a delivery. Returns undefined for nothing read.
 */
export function planChunk(
  rows: readonly LogEventRow[],
  opts: { limit: number; maxAttempts: number },
): ChunkPlan | undefined {
  if (rows.length === 0) return undefined;
  const attempt = rows[0]!.attempt;
  let consumed = rows;
  let exhausted: LogEventRow | undefined;
  if (attempt >= opts.maxAttempts) {
    const head = rows.findIndex((r) => r.owed && !r.blocked);
    if (head >= 0) {
      consumed = rows.slice(0, head + 1);
      if (attempt > opts.maxAttempts) exhausted = rows[head];
    }
  }
  const groups = new Map<string, LogEventRow[]>();
  const waiting: LogEventRow[] = [];
  for (const row of consumed) {
    if (!row.owed || row === exhausted) continue;
    if (row.blocked) {
      waiting.push(row);
      continue;
    }
    const key = `${row.aggregate_type}\u0000${row.aggregate_id}`;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return {
    groups: [...groups.values()],
    waiting,
    exhausted,
    cursor: consumed[consumed.length - 1]!.id,
    endsBatch: consumed.length === rows.length && rows.length < opts.limit,
    attempt,
  };
}

/** A delivery's result: delivered (null), failed, or not tried (an earlier one of its aggregate failed). */
export type DeliveryResult = null | Failure | 'held back';

/** What a delivered chunk leads to. */
export type ChunkOutcome =
  /** Every call failed, none for good: the position stays, the subscription backs off. */
  | { kind: 'back off'; error: string }
  /** The position moves on; what could not be delivered is parked. */
  | { kind: 'advance'; parked: ParkedEvent[] };

/**
 * Decides what a delivered chunk leads to. `results` has an entry for every event of the plan's
 * groups. An event that failed is parked, retrying (or dead when retrying cannot help or its tries
 * are used up), and the later events of its aggregate in the chunk wait behind it; when every call
 * failed and none for good, the events are not at fault as far as anyone can tell (an endpoint is
 * down): nothing is parked and the subscription backs off instead.
 */
export function settleChunk(
  plan: ChunkPlan,
  results: ReadonlyMap<string, DeliveryResult>,
  maxAttempts: number,
): ChunkOutcome {
  const delivered = [...results.values()];
  const calls = delivered.filter((r) => r !== 'held back');
  const lastTry = plan.attempt >= maxAttempts;
  if (
    calls.length > 0 &&
    !lastTry &&
    calls.every((r): r is Failure => r !== null && !r.permanent)
  ) {
    const first = calls[0] as Failure;
    return { kind: 'back off', error: first.error };
  }
  const park = (row: LogEventRow, state: ParkedEvent['state'], failure?: Failure): ParkedEvent => ({
    event_id: row.id,
    aggregate_type: row.aggregate_type,
    aggregate_id: row.aggregate_id,
    state,
    attempts: state === 'waiting' ? 0 : plan.attempt,
    last_error: failure?.error,
    retry_after_ms: failure?.retryAfterMs,
  });
  const parked: ParkedEvent[] = plan.waiting.map((row) => park(row, 'waiting'));
  if (plan.exhausted) {
    parked.push(
      park(plan.exhausted, 'dead', {
        error: `${plan.attempt - 1} tries started and none finished (the process died or the call never returned)`,
        permanent: true,
      }),
    );
  }
  for (const group of plan.groups) {
    for (const row of group) {
      const result = results.get(row.id);
      if (result === null) continue;
      if (result === 'held back' || result === undefined) {
        parked.push(park(row, 'waiting'));
        continue;
      }
      parked.push(park(row, result.permanent || lastTry ? 'dead' : 'retrying', result));
    }
  }
  return { kind: 'advance', parked };
}

/**
 * Delivers the events of one aggregate in order: after a failure that may be retried, the later
 * ones are held back (they wait behind it); after a permanent one (dead), the order moves on.
 */
export async function deliverInOrder(
  group: readonly LogEventRow[],
  deliver: (row: LogEventRow) => Promise<void>,
  results: Map<string, DeliveryResult>,
): Promise<void> {
  let blocked = false;
  for (const row of group) {
    if (blocked) {
      results.set(row.id, 'held back');
      continue;
    }
    try {
      await deliver(row);
      results.set(row.id, null);
    } catch (err) {
      const failure = toFailure(err);
      results.set(row.id, failure);
      if (!failure.permanent) blocked = true;
    }
  }
}

/**
 * The outcome of parked events' retries: delivered, dead (retrying cannot help, or the tries are
 * used up), or waiting for the next backoff. `results` has an entry per event delivered or tried.
 */
export function settleRetries(
  rows: readonly LogEventRow[],
  results: ReadonlyMap<string, DeliveryResult>,
  maxAttempts: number,
): ParkedResult[] {
  return rows.map((row) => {
    const result = results.get(row.id);
    if (result === null) return { event_id: row.id, ok: true };
    if (result === undefined || result === 'held back') {
      // Not tried (an earlier retry of its aggregate failed): its try does not count.
      return { event_id: row.id, ok: false, dead: false, last_error: 'held back' };
    }
    return {
      event_id: row.id,
      ok: false,
      dead: result.permanent || row.attempt >= maxAttempts,
      last_error: result.error,
      retry_after_ms: result.retryAfterMs,
    };
  });
}
