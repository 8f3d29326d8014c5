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
 * Writes its effect in the database, in the same transaction that marks the events handled, so
 * the effect happens exactly once. Runs for a whole batch at once (one statement is cheaper than
 * N); if it throws, the dispatcher re-runs it event by event, each under a savepoint, to isolate
 * the event that fails.
 */
export interface TransactionalHandler<T extends KnownEventType = KnownEventType> {
  kind: 'transactional';
  /** Stable name: the key of this handler's state in outbox.deliveries. */
  name: string;
  eventTypes: EventTypes<T>;
  handleBatch(events: OutboxEvent<T>[], tx: pg.PoolClient): Promise<void>;
}

/**
 * A transactional handler whose effect is one SQL statement (INSERT ... SELECT, UPDATE ... FROM)
 * over the relation `events`: the batch's events this handler is owed, with the outbox's columns.
 * The statement takes no parameters of its own. When every handler is of this kind (the built-in
 * set), the dispatcher locks, handles and settles a batch in a single statement, and the events
 * never leave the database (src/outbox/sql/one-statement.ts); otherwise, and to find the event at
 * fault when that statement fails, it runs like any transactional handler.
 */
export interface SqlHandler<T extends KnownEventType = KnownEventType> {
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
  handle(event: OutboxEvent<T>, ctx: { signal: AbortSignal }): Promise<void>;
}

export type Handler = TransactionalHandler<never> | SqlHandler<never> | ExternalHandler<never>;
