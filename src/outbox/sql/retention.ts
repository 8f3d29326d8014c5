import type pg from 'pg';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

/**
 * Deletes up to `limit` done rows processed more than `olderThanMs` ago, oldest first; returns how
 * many. Served by outbox_done_processed_at (0030). SKIP LOCKED: a row some transaction is touching
 * (an admin replay reading it) is left for the next round instead of waited for. Dead rows are
 * never touched: they stay until an operator retries them.
 */
export async function deleteDoneBatch(
  db: Pick<pg.PoolClient, 'query'>,
  args: { olderThanMs: number; limit: number },
): Promise<number> {
  const { rowCount } = await db.query({
    text: `delete from outbox
            where id in (
                    select id from outbox
                     where status = 'done'
                       and processed_at < now() - $1 * interval '1 millisecond'
                     order by processed_at
                     limit $2
                       for update skip locked)`,
    values: [args.olderThanMs, args.limit],
  });
  return rowCount ?? 0;
}
