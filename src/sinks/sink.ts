import type pg from 'pg';
import type { Config } from '../config/env';
import type { Logger } from '../observability/logger';
import type { OutboxEvent } from '../outbox/event-types';
import type { ExternalHandler } from '../outbox/handler';

/**
 * Somewhere outside the database that events go to (an SMTP server, a webhook receiver, a
 * broker). A sink is an external handler with a lifecycle, and a subscription of its own: its
 * failures hold back no other sink. The dispatcher delivers each event at least once, so `deliver` must be idempotent by event id (it sends the id as its idempotency
 * key). Errors are classified as for handlers: PermanentError (dead now), RetryLaterError
 * (Retry-After), anything else (retry with backoff).
 */
export interface Sink {
  /** Stable name, without secrets: the name of its subscription. */
  readonly name: string;
  /** Names its subscription had before (renamed at start, keeping its position). */
  readonly formerNames?: readonly string[];
  /** The event types this sink takes, or '*' for every one. */
  readonly eventTypes: readonly string[] | '*';
  deliver(event: OutboxEvent, ctx: { signal: AbortSignal }): Promise<void>;
  /**
   * Tries the configuration at start-up (connect, create what the sink needs): throws, in words an
   * operator can act on, when the sink cannot work as configured. The service says so in its log
   * and in /readyz; the sink's subscription backs off alone, and nothing else waits for it.
   */
  check?(): Promise<void>;
  /** Releases connections; called once, after the dispatcher has drained. */
  close?(): Promise<void>;
}

export interface SinkDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
}

/** Reads the configuration and returns the sinks it turns on (none when unconfigured). */
export type SinkFactory = (deps: SinkDeps) => Sink[];

/** The dispatcher runs handlers: a sink is one, keyed by its name. */
export function sinkHandler(sink: Sink): ExternalHandler {
  return {
    kind: 'external',
    name: sink.name,
    formerNames: sink.formerNames,
    eventTypes: sink.eventTypes,
    handle: (event, ctx) => sink.deliver(event, ctx),
  };
}
