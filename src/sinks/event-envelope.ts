import type { OutboxEvent } from '../outbox/event-types';

/** What webhooks and NATS messages carry: the event as the outbox holds it (JSON). */
export interface EventEnvelope {
  /** The outbox id: the idempotency key (also webhook-id / Nats-Msg-Id). */
  id: string;
  /** e.g. 'order.status_changed'. */
  type: string;
  /** What changed: e.g. { type: 'order', id: '5' }; events of one aggregate arrive in order. */
  aggregate: { type: string; id: string };
  /** As written by the capture trigger: { op, table, new, old }. */
  payload: unknown;
  /** When the change was committed (ISO 8601). */
  created_at: string;
}

export function eventEnvelope(event: OutboxEvent): EventEnvelope {
  return {
    id: event.id,
    type: event.type,
    aggregate: { type: event.aggregateType, id: event.aggregateId },
    payload: event.payload,
    created_at: event.createdAt.toISOString(),
  };
}
