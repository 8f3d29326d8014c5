import type pg from 'pg';
import type { DeliveryState, OutboxStatus } from '../types';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

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
 * The one UPDATE both settles run. A retry waits base * 2^(claims - 1), capped, with "equal
 * jitter" (half fixed, half random) so that the failures of a burst do not retry in step.
 * `$1` base, `$2` cap, `$3..$7` the settlements. `raiseAttempts`: this settle counts the claim
 * (the in-transaction path) rather than the leasing claim before it; `where` picks our rows.
 */
function settleSql(opts: { raiseAttempts: boolean; where: string }): string {
  const claims = opts.raiseAttempts ? 'o.attempts + 1' : 'o.attempts';
  return `update outbox o
             set status = s.status,
                 attempts = ${claims},
                 available_at = case when s.status = 'pending'
                   then now() + greatest(
                          coalesce(s.retry_after_ms, 0),
                          least($2::float8, $1::float8 * power(2, least(${claims} - 1, 40)))
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
           where ${opts.where}
          returning o.id`;
}

function settleValues(backoff: BackoffSettings, settlements: Settlement[]): unknown[] {
  return [
    backoff.baseMs,
    backoff.maxMs,
    settlements.map((s) => s.id),
    settlements.map((s) => s.status),
    settlements.map((s) => s.lastError),
    settlements.map((s) => JSON.stringify(s.deliveries)),
    settlements.map((s) => s.retryAfterMs),
  ];
}

/**
 * Records the outcome of a leased batch in one statement. Only rows still leased to this worker
 * are touched: if the lease expired and another worker took a row over, that worker's result
 * wins. Returns the ids that were settled.
 */
export async function settleBatch(
  db: Pick<pg.PoolClient, 'query'>,
  workerId: string,
  backoff: BackoffSettings,
  settlements: Settlement[],
): Promise<string[]> {
  if (settlements.length === 0) return [];
  const { rows } = await db.query<{ id: string }>({
    text: settleSql({
      raiseAttempts: false,
      where: `o.id = s.id and o.locked_by = $8 and o.status = 'processing'`,
    }),
    values: [...settleValues(backoff, settlements), workerId],
  });
  return rows.map((r) => r.id);
}

/**
 * The settle of the in-transaction path: the rows were locked by lockBatch in this transaction, so
 * they are ours without a lease check, and this is their first write: attempts is raised here.
 */
export async function settleLockedBatch(
  tx: Pick<pg.PoolClient, 'query'>,
  backoff: BackoffSettings,
  settlements: Settlement[],
): Promise<string[]> {
  if (settlements.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>({
    text: settleSql({ raiseAttempts: true, where: 'o.id = s.id' }),
    values: settleValues(backoff, settlements),
  });
  return rows.map((r) => r.id);
}
