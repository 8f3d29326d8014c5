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
 * Acts outside the database (HTTP, SMTP, a broker). Delivery is at least once: the effect must be
 * idempotent by event id, which the handler sends as its idempotency key.
 */
export interface ExternalHandler<T extends string = string> {
  kind: 'external';
  name: string;
  eventTypes: EventTypes<T>;
  handle(event: OutboxEvent<T>, ctx: { signal: AbortSignal }): Promise<void>;
}

export type Handler = TransactionalHandler<never> | ExternalHandler<never>;
