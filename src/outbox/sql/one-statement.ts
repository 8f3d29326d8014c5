import pg from 'pg';
import type { AnySqlHandler } from '../registry';
import type { OutboxEvent } from '../event-types';
import type { DeliveryState, OutboxRow } from '../types';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

/**
 * Runs an SQL handler's effect in the caller's transaction over the given events. They are sent
 * along as outbox rows rather than read again (no plan over the outbox to go wrong); the columns
 * an event does not carry (status, deliveries, ...) are null there.
 */
export async function runSqlEffect(
  tx: Pick<pg.PoolClient, 'query'>,
  handler: AnySqlHandler,
  events: readonly OutboxEvent[],
): Promise<void> {
  const rows = events.map((e) => ({
    id: e.id,
    aggregate_type: e.aggregateType,
    aggregate_id: e.aggregateId,
    event_type: e.type,
    payload: e.payload,
    created_at: e.createdAt,
    attempts: e.attempt,
  }));
  await tx.query({
    text: `with events as (select * from jsonb_populate_recordset(null::outbox, $1::jsonb))
           ${handler.effectSql}`,
    values: [JSON.stringify(rows)],
  });
}

/** A row the one-statement batch locked, handled and settled (done); attempts includes this run. */
export type HandledRow = Pick<
  OutboxRow,
  'id' | 'aggregate_type' | 'aggregate_id' | 'event_type' | 'payload' | 'created_at' | 'attempts'
> & {
  /** outbox.deliveries before this run: the handlers it was owed are those not done there. */
  previous_deliveries: Record<string, DeliveryState>;
};

/**
 * The statement of a batch when every handler is an SQL handler: lock up to `$1` claimable events
 * (outbox_lock_claimable, as the in-transaction path), run each handler's effect over the events it
 * is owed (its event types, not already done), and settle every locked row as done, with each
 * handler's delivery state at `$2`: one round trip and one commit; the handlers run in PostgreSQL,
 * and only the handled rows come back (for metrics and the live page).
 * If any effect fails, the statement fails as a whole and nothing is written; the dispatcher then
 * handles the batch the ordinary way, which isolates the event at fault. Handler names and event
 * types are written into the text as literals. It runs through outbox_run_batch() (migration
 * 0046), whose settings keep its plan independent of the outbox's statistics.
 */
export function oneStatementBatchSql(handlers: readonly AnySqlHandler[]): string {
  const literal = (value: string) => pg.escapeLiteral(value);
  const owed = (h: AnySqlHandler) => {
    const types =
      h.eventTypes === '*' ? 'true' : `b.event_type in (${h.eventTypes.map(literal).join(', ')})`;
    return `${types} and coalesce(b.deliveries -> ${literal(h.name)} ->> 'status', '') <> 'done'`;
  };
  const effects = handlers.map(
    (h, i) => `effect_${i} as (
       with events as (select b.* from batch b where ${owed(h)})
       ${h.effectSql})`,
  );
  const deliveries = handlers.map(
    (h) => `
       || case when ${owed(h)}
            then jsonb_build_object(${literal(h.name)}, jsonb_build_object(
                   'status', 'done',
                   'attempts', coalesce((b.deliveries -> ${literal(h.name)} ->> 'attempts')::int, 0) + 1,
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
    select * from settled`;
}

/** Runs the statement of oneStatementBatchSql(); returns the rows it handled, in id order. */
export async function lockHandleSettle(
  db: Pick<pg.PoolClient, 'query'>,
  sql: string,
  args: { limit: number; now: string },
): Promise<HandledRow[]> {
  const { rows } = await db.query<HandledRow>({
    text: `select * from outbox_run_batch($1, $2, $3) order by id`,
    values: [sql, args.limit, args.now],
  });
  return rows;
}
