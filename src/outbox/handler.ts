import type pg from 'pg';
import type { KnownEventType, OutboxEvent } from './event-types';

/** Thrown by a handler when retrying cannot help (bad input, 4xx): the event goes dead at once. */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Thrown by a handler that knows when to try again (e.g. a Retry-After header). */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RetryLaterError';
  }
}

type EventTypes<T extends string> = readonly T[] | '*';

/**
 * Every handler is a subscription of its own, named after it (outbox_subscriptions): it reads the
 * log at its own position, and its failures hold back nobody else. The name is stable: renaming a
 * handler makes a new subscription (starting from now) and leaves the old one behind.
 */

/**
 * Writes its effect in the database, in the same transaction that moves its subscription's
 * position, so the effect happens exactly once. Runs for a whole chunk at once (one statement is
 * cheaper than N); if it throws, the dispatcher re-runs it event by event, each under a savepoint,
 * to isolate the event that fails.
 */
export interface TransactionalHandler<T extends KnownEventType = KnownEventType> {
  kind: 'transactional';
  /** Stable name: the name of its subscription. */
  name: string;
  eventTypes: EventTypes<T>;
  handleBatch(events: OutboxEvent<T>[], tx: pg.PoolClient): Promise<void>;
}

/**
 * A transactional handler whose effect is one SQL statement (INSERT ... SELECT, UPDATE ... FROM)
 * over the relation `events`: the chunk's events this subscription handles, with the columns id,
 * aggregate_type, aggregate_id, event_type, payload, created_at and attempt (the type
 * outbox_event). The statement takes no parameters of its own. A chunk is then a single statement
 * that reads the log, writes the effects and moves the position (outbox_run_sql_batch, migration
 * 0050): the events never leave the database. When it fails, the chunk runs event by event to
 * find the event at fault. Its payloads are read as they are (not checked against their schema).
 */
export interface SqlHandler<T extends string = KnownEventType> {
  kind: 'sql';
  name: string;
  eventTypes: EventTypes<T>;
  effectSql: string;
}

/**
 * Acts outside the database (HTTP, SMTP, a broker). Delivery is at least once: the effect must be
 * idempotent by event id, which the handler sends as its idempotency key.
 */
export interface ExternalHandler<T extends string = string> {
  kind: 'external';
  name: string;
  eventTypes: EventTypes<T>;
  /** Names its subscription had before (it is renamed, keeping its position). */
  formerNames?: readonly string[];
  handle(event: OutboxEvent<T>, ctx: { signal: AbortSignal }): Promise<void>;
}

export type Handler = TransactionalHandler<never> | SqlHandler<never> | ExternalHandler<never>;
