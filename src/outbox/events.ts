import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger';
import type { OutboxStatus } from './types';

/** What the dispatcher and listener report; logs and metrics subscribe here. */
export interface OutboxEventMap {
  claimed: { workerId: string; count: number };
  /** One event settled: done, retrying (pending) or dead. */
  settled: {
    id: string;
    type: string;
    aggregateType: string;
    aggregateId: string;
    status: Exclude<OutboxStatus, 'processing'>;
    attempt: number;
    durationMs: number;
    createdAt: Date;
    /** The row's payload, as written by the capture trigger (the live page shows the change). */
    payload: unknown;
    handlers: { name: string; ok: boolean; error?: string }[];
    error: string | null;
  };
  'listener:connected': { reconnect: boolean };
  'listener:disconnected': { error: string };
  'listener:notification': Record<string, never>;
  'dispatcher:error': { error: string };
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
