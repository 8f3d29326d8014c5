import type pg from 'pg';
import type { OutboxRow } from '../types';

// The statements in this file are unnamed on purpose: PostgreSQL plans an unnamed statement with
// its parameters and the table's current size each time. A named (prepared) one gets a generic
// plan after five runs, and a generic plan made while the outbox was small (a seq scan joined to
// the id array) stays cached as the table grows: measured at 6-8 ms per settle of one row at
// 40,000 rows. Planning costs ~0.1 ms. See migration 0043 for the same trap in the claim.

/**
 * Claims up to `limit` events in one statement and leases them to `workerId`.
 *
 * Claimable: pending rows whose backoff has passed, and processing rows whose lease expired (their
 * worker died). Only the oldest open event of each aggregate qualifies, so the events of one order
 * are handled one at a time in commit order (for one row, id order is commit order: the UPDATE that
 * fires the trigger holds the row lock until commit). SKIP LOCKED lets any number of workers claim
 * at once without waiting for each other; a head row locked by another claimer is skipped, and the
 * rows behind it still see it open, so they wait too. `attempts` counts claims, so an event that
 * keeps crashing its worker still goes dead. What is claimable, and the plan that finds it whatever
 * the statistics say (walk outbox_open in id order, stop at the limit), live in
 * outbox_lock_claimable() (migrations 0043, 0044).
 */
export async function claimBatch(
  db: Pick<pg.Pool, 'query'>,
  args: { limit: number; workerId: string; leaseMs: number },
): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>({
    text: `with candidates as (select id from outbox_lock_claimable($1))
           update outbox o
              set status = 'processing',
                  attempts = o.attempts + 1,
                  locked_by = $2,
                  locked_until = now() + $3 * interval '1 millisecond'
             from candidates c
            where o.id = c.id
           returning o.*`,
    values: [args.limit, args.workerId, args.leaseMs],
  });
  return rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
}

/**
 * The claim of the in-transaction path (every handler is transactional): locks up to `limit`
 * claimable events inside the caller's transaction instead of leasing them. The row locks are the
 * lease: they hold until the transaction that also writes the effects and the ack ends, and a
 * worker that dies mid-batch releases them with its connection. One write per event (the settle)
 * instead of two (lease, then settle). `attempts` is raised by the settle, not here.
 */
export async function lockBatch(
  tx: Pick<pg.PoolClient, 'query'>,
  args: { limit: number },
): Promise<OutboxRow[]> {
  const { rows } = await tx.query<OutboxRow>({
    text: `select * from outbox_lock_claimable($1)`,
    values: [args.limit],
  });
  return rows;
}
