import type pg from 'pg';
import type { AnySqlHandler } from '../registry';
import type { DeliveryState } from '../types';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

/** Runs an SQL handler's effect over the given events of the caller's transaction. */
export async function runSqlEffect(
  tx: Pick<pg.PoolClient, 'query'>,
  handler: AnySqlHandler,
  ids: string[],
): Promise<void> {
  await tx.query({
    text: `with events as (select * from outbox where id = any($1::bigint[])) ${handler.effectSql}`,
    values: [ids],
  });
}

/** A row the one-statement batch locked, handled and settled (done). */
export interface HandledRow {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: unknown;
  created_at: Date;
  /** Claims so far, this one included. */
  attempts: number;
  /** outbox.deliveries before this run: the handlers it was owed are those not done there. */
  previous_deliveries: Record<string, DeliveryState>;
}

/**
 * The statement of a batch when every handler is an SQL handler: lock up to `$1` claimable events
 * (outbox_lock_claimable, as the in-transaction path), run each handler's effect over the events it
 * is owed (its event types, not already done), and settle every locked row as done, with each
 * handler's delivery state at `$2`: one round trip and one commit, nothing read into the process.
 * If any effect fails, the statement fails as a whole and nothing is written; the dispatcher then
 * handles the batch the ordinary way, which isolates the event at fault. Parameters after `$2`:
 * each handler's name and event types (null: every type).
 */
export function oneStatementBatchSql(handlers: readonly AnySqlHandler[]): string {
  const name = (i: number) => `$${3 + 2 * i}::text`;
  const types = (i: number) => `$${4 + 2 * i}::text[]`;
  const owed = (i: number) =>
    `(${types(i)} is null or b.event_type = any(${types(i)}))
       and coalesce(b.deliveries -> ${name(i)} ->> 'status', '') <> 'done'`;
  const effects = handlers.map(
    (h, i) => `effect_${i} as (
       with events as (select b.* from batch b where ${owed(i)})
       ${h.effectSql})`,
  );
  const deliveries = handlers.map(
    (_, i) => `
       || case when ${owed(i)}
            then jsonb_build_object(${name(i)}, jsonb_build_object(
                   'status', 'done',
                   'attempts', coalesce((b.deliveries -> ${name(i)} ->> 'attempts')::int, 0) + 1,
                   'at', $2::text))
            else '{}'::jsonb end`,
  );
  return `with batch as materialized (select * from outbox_lock_claimable($1)),
    ${[...effects, ''].join(',\n    ')}
    settled as (
      update outbox o
         set status = 'done',
             attempts = o.attempts + 1,
             processed_at = clock_timestamp(),
             last_error = null,
             deliveries = o.deliveries${deliveries.join('')},
             locked_by = null,
             locked_until = null
        from batch b
       where o.id = b.id
      returning o.id, o.aggregate_type, o.aggregate_id, o.event_type, o.payload, o.created_at,
                o.attempts, b.deliveries as previous_deliveries)
    select * from settled order by id`;
}

/** Runs the statement of oneStatementBatchSql(handlers); returns the rows it handled. */
export async function lockHandleSettle(
  db: Pick<pg.PoolClient, 'query'>,
  sql: string,
  args: { limit: number; handlers: readonly AnySqlHandler[]; now: string },
): Promise<HandledRow[]> {
  const { rows } = await db.query<HandledRow>({
    text: sql,
    values: [
      args.limit,
      args.now,
      ...args.handlers.flatMap((h) => [h.name, h.eventTypes === '*' ? null : h.eventTypes]),
    ],
  });
  return rows;
}
