import type pg from 'pg';

/** Extends the lease of rows this worker still holds, while a long handler runs. */
export async function extendLease(
  db: Pick<pg.Pool, 'query'>,
  args: { ids: string[]; workerId: string; leaseMs: number },
): Promise<number> {
  const { rowCount } = await db.query({
    name: 'outbox.extend_lease',
    text: `update outbox set locked_until = now() + $3 * interval '1 millisecond'
            where id = any($1::bigint[]) and locked_by = $2 and status = 'processing'`,
    values: [args.ids, args.workerId, args.leaseMs],
  });
  return rowCount ?? 0;
}

/**
 * Gives back what this worker still holds (on shutdown), uncounted: the claim did not get to run.
 */
export async function releaseClaims(db: Pick<pg.Pool, 'query'>, workerId: string): Promise<number> {
  const { rowCount } = await db.query({
    name: 'outbox.release',
    text: `update outbox
              set status = 'pending', locked_by = null, locked_until = null,
                  attempts = greatest(attempts - 1, 0)
            where locked_by = $1 and status = 'processing'`,
    values: [workerId],
  });
  return rowCount ?? 0;
}
