import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger';

/** What the dispatcher and listener report; logs and metrics subscribe here. */
export interface OutboxEventMap {
  /** One subscription's round found work (events read or retried). */
  round: { subscription: string; read: number };
  /**
   * One event's delivery to one subscription finished: done, failed and parked to be retried
   * (`retrying`), or dead.
   */
  settled: {
    subscription: string;
    id: string;
    type: string;
    aggregateType: string;
    aggregateId: string;
    status: 'done' | 'retrying' | 'dead';
    /** Which try this was (1 the first). */
    attempt: number;
    /** From the start of the round that delivered it. */
    durationMs: number;
    /** When the writer committed it (the outbox row's created_at). */
    createdAt: Date;
    /** The row's payload, as written by the capture trigger (the live page shows the change). */
    payload: unknown;
    error: string | null;
  };
  /** Every call of a subscription's last try failed: it waits as a whole until `until`. */
  'subscription:backoff': { subscription: string; until: Date; error: string };
  /** A lane found its subscription paused by an operator (paused), or resumed (not paused). */
  'subscription:paused': { subscription: string; paused: boolean };
  'listener:connected': { reconnect: boolean };
  'listener:disconnected': { error: string };
  'listener:notification': Record<string, never>;
  'dispatcher:error': { subscription: string; error: string };
}

export type OutboxEventName = keyof OutboxEventMap;

export interface OutboxEvents {
  on<K extends OutboxEventName>(event: K, listener: (payload: OutboxEventMap[K]) => void): void;
  off<K extends OutboxEventName>(event: K, listener: (payload: OutboxEventMap[K]) => void): void;
  /** Emits without ever throwing: a failing subscriber must not stop the dispatch loop. */
  emit<K extends OutboxEventName>(event: K, payload: OutboxEventMap[K]): void;
}

export function createOutboxEvents(logger: Logger): OutboxEvents {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  return {
    on: (event, listener) => void emitter.on(event, listener),
    off: (event, listener) => void emitter.off(event, listener),
    emit(event, payload) {
      for (const listener of emitter.listeners(event)) {
        try {
          listener(payload);
        } catch (err) {
          logger.error({ err, event }, 'an outbox event subscriber threw; ignored');
        }
      }
    },
  };
}
