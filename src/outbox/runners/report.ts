import type { Logger } from '../../observability/logger';
import type { OutboxEventMap, OutboxEvents } from '../events';

/** One event's outcome in one subscription, as a runner knows it. */
export interface Settled {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: unknown;
  created_at: Date | string;
  attempt: number;
  status: OutboxEventMap['settled']['status'];
  error?: string | null;
}

/** Logs and emits every outcome of one subscription (metrics and the live page listen). */
export interface Reporter {
  settled(outcome: Settled, startedAt: number): void;
  backoff(until: Date, error: string): void;
}

export function createReporter(deps: {
  subscription: string;
  events: OutboxEvents;
  logger: Logger;
}): Reporter {
  const { subscription, events, logger } = deps;
  return {
    settled(o, startedAt) {
      const durationMs = performance.now() - startedAt;
      const done = o.status === 'done';
      // Hundreds of events a chunk: build the log line only when it is written.
      if (!done || logger.isLevelEnabled('debug')) {
        const base = {
          subscription,
          id: o.id,
          type: o.event_type,
          aggregate: `${o.aggregate_type}:${o.aggregate_id}`,
          attempt: o.attempt,
          durationMs: Math.round(durationMs * 100) / 100,
        };
        if (done) logger.debug(base, 'event handled');
        else if (o.status === 'retrying')
          logger.warn({ ...base, error: o.error }, 'event failed; parked, will retry');
        else logger.error({ ...base, error: o.error }, 'event is dead');
      }
      events.emit('settled', {
        subscription,
        id: o.id,
        type: o.event_type,
        aggregateType: o.aggregate_type,
        aggregateId: o.aggregate_id,
        status: o.status,
        attempt: o.attempt,
        durationMs,
        createdAt: o.created_at instanceof Date ? o.created_at : new Date(o.created_at),
        payload: o.payload,
        error: o.error ?? null,
      });
    },
    backoff(until, error) {
      logger.warn(
        { subscription, until: until.toISOString(), error },
        'every call failed: the subscription backs off as a whole',
      );
      events.emit('subscription:backoff', { subscription, until, error });
    },
  };
}
