/** Statuses of an outbox row. */
export const OUTBOX_STATUS = {
  /** Waiting to be claimed once `available_at` has passed. */
  pending: 'pending',
  /** Claimed by the worker in `locked_by` until `locked_until`. */
  processing: 'processing',
  /** Every handler succeeded. */
  done: 'done',
  /** A handler failed permanently or ran out of attempts; kept for an operator. */
  dead: 'dead',
} as const;
export type OutboxStatus = (typeof OUTBOX_STATUS)[keyof typeof OUTBOX_STATUS];

/** Delivery state of one handler for one event (outbox.deliveries->handler). */
export interface DeliveryState {
  status: 'done' | 'failed' | 'dead';
  /** How many times this handler ran for the event. */
  attempts: number;
  /** The last failure, if any. */
  error?: string;
  /** When the handler last ran (ISO 8601). */
  at: string;
}

/** One row of the outbox table. */
export interface OutboxRow {
  /** bigint identity; a string because it may exceed 2^53. Also the event id sinks send. */
  id: string;
  /** What kind of thing changed, e.g. 'order'. */
  aggregate_type: string;
  /** Which one (its primary key as text); events of one aggregate are handled in order. */
  aggregate_id: string;
  /** e.g. 'order.status_changed'. */
  event_type: string;
  /** Written by the capture trigger: { op, table, new, old }. */
  payload: unknown;
  /** When the trigger wrote the row (clock time inside the writer's transaction). */
  created_at: Date;
  status: OutboxStatus;
  /** Claims so far, including the current one. */
  attempts: number;
  /** Not claimed before this time (retry backoff). */
  available_at: Date;
  /** The claim lease; past it, another worker may take the row over. */
  locked_until: Date | null;
  /** Worker id of the claim. */
  locked_by: string | null;
  /** When the row became done. */
  processed_at: Date | null;
  /** The last failure, for operators. */
  last_error: string | null;
  /** Per-handler delivery state. */
  deliveries: Record<string, DeliveryState>;
}
