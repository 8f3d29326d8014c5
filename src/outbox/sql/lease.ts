import type pg from 'pg';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

/**
 * Extends the lease of rows this worker still holds, while a long handler runs. A row locked right
 * now is skipped: it is being settled (by us: nothing to extend) or taken over (no longer ours);
 * waiting for it could only deadlock with our own settle transaction.
 */
export async function extendLease(
  db: Pick<pg.Pool, 'query'>,
  args: { ids: string[]; workerId: string; leaseMs: number },
): Promise<number> {
  const { rowCount } = await db.query({
    text: `with mine as (
             select id from outbox
              where id = any($1::bigint[]) and locked_by = $2 and status = 'processing'
              order by id
                for update skip locked
           )
           update outbox o set locked_until = now() + $3 * interval '1 millisecond'
             from mine where o.id = mine.id`,
    values: [args.ids, args.workerId, args.leaseMs],
  });
  return rowCount ?? 0;
}

/**
 * At the start of the settle transaction: locks the rows of the batch that are still leased to
 * this worker and returns their ids. Database effects are written only for these, and nobody can
 * take them over until we commit, so an effect and its ack commit together exactly once even when
 * the lease ran out while the handlers ran (then another worker owns the row and does the work).
 * Locks in id order, like every other statement that locks several outbox rows.
 */
export async function lockOwnClaims(
  db: Pick<pg.PoolClient, 'query'>,
  args: { ids: string[]; workerId: string },
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>({
    text: `select id from outbox
            where id = any($1::bigint[]) and locked_by = $2 and status = 'processing'
            order by id
              for update`,
    values: [args.ids, args.workerId],
  });
  return rows.map((r) => r.id);
}

/**
 * Gives back what this worker still holds (on shutdown), uncounted: the claim did not get to run.
 */
export async function releaseClaims(db: Pick<pg.Pool, 'query'>, workerId: string): Promise<number> {
  const { rowCount } = await db.query({
    text: `update outbox
              set status = 'pending', locked_by = null, locked_until = null,
                  attempts = greatest(attempts - 1, 0)
            where locked_by = $1 and status = 'processing'`,
    values: [workerId],
  });
  return rowCount ?? 0;
}
