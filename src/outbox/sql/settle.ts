import type pg from 'pg';
import type { DeliveryState, OutboxStatus } from '../types';

export interface Settlement {
  id: string;
  status: Exclude<OutboxStatus, 'processing'>;
  lastError: string | null;
  /** Handler states to merge into outbox.deliveries. */
  deliveries: Record<string, DeliveryState>;
  /** A handler's own retry hint (Retry-After); the backoff is never shorter than this. */
  retryAfterMs: number | null;
}

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

/**
 * Records the outcome of a batch in one statement. A retry waits base * 2^(attempts-1), capped,
 * with "equal jitter" (half fixed, half random) so that failures of a burst do not retry in step.
 * Only rows still leased to this worker are touched: if the lease expired and another worker took
 * a row over, that worker's result wins. Returns the ids that were settled.
 */
export async function settleBatch(
  db: Pick<pg.PoolClient, 'query'>,
  workerId: string,
  backoff: BackoffSettings,
  settlements: Settlement[],
): Promise<string[]> {
  if (settlements.length === 0) return [];
  const { rows } = await db.query<{ id: string }>({
    name: 'outbox.settle',
    text: `update outbox o
              set status = s.status,
                  available_at = case when s.status = 'pending'
                    then now() + greatest(
                           coalesce(s.retry_after_ms, 0),
                           least($3::float8, $2::float8 * power(2, least(o.attempts - 1, 40)))
                             * (0.5 + random() * 0.5)
                         ) * interval '1 millisecond'
                    else o.available_at end,
                  processed_at = case when s.status = 'done' then clock_timestamp() end,
                  last_error = s.last_error,
                  deliveries = o.deliveries || s.deliveries,
                  locked_by = null,
                  locked_until = null
             from unnest($4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::int[])
                    as s(id, status, last_error, deliveries, retry_after_ms)
            where o.id = s.id and o.locked_by = $1 and o.status = 'processing'
           returning o.id`,
    values: [
      workerId,
      backoff.baseMs,
      backoff.maxMs,
      settlements.map((s) => s.id),
      settlements.map((s) => s.status),
      settlements.map((s) => s.lastError),
      settlements.map((s) => JSON.stringify(s.deliveries)),
      settlements.map((s) => s.retryAfterMs),
    ],
  });
  return rows.map((r) => r.id);
}

/**
 * The settle of the in-transaction path: the rows were locked by lockBatch in this transaction, so
 * they are ours without a lease check, and this is their first write: attempts is raised here
 * (the backoff uses the raised count, as in settleBatch).
 */
export async function settleLockedBatch(
  tx: Pick<pg.PoolClient, 'query'>,
  backoff: BackoffSettings,
  settlements: Settlement[],
): Promise<string[]> {
  if (settlements.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>({
    name: 'outbox.settle_locked',
    text: `update outbox o
              set status = s.status,
                  attempts = o.attempts + 1,
                  available_at = case when s.status = 'pending'
                    then now() + greatest(
                           coalesce(s.retry_after_ms, 0),
                           least($2::float8, $1::float8 * power(2, least(o.attempts, 40)))
                             * (0.5 + random() * 0.5)
                         ) * interval '1 millisecond'
                    else o.available_at end,
                  processed_at = case when s.status = 'done' then clock_timestamp() end,
                  last_error = s.last_error,
                  deliveries = o.deliveries || s.deliveries,
                  locked_by = null,
                  locked_until = null
             from unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::int[])
                    as s(id, status, last_error, deliveries, retry_after_ms)
            where o.id = s.id
           returning o.id`,
    values: [
      backoff.baseMs,
      backoff.maxMs,
      settlements.map((s) => s.id),
      settlements.map((s) => s.status),
      settlements.map((s) => s.lastError),
      settlements.map((s) => JSON.stringify(s.deliveries)),
      settlements.map((s) => s.retryAfterMs),
    ],
  });
  return rows.map((r) => r.id);
}
