import type pg from 'pg';
import type { OutboxRow } from '../types';

/**
 * What may be claimed now: pending rows whose backoff has passed, processing rows whose lease
 * expired, and of those only the oldest open event of each aggregate. Shared by both claims.
 */
const CLAIMABLE = `o.status in ('pending', 'processing')
                and ((o.status = 'pending' and o.available_at <= now())
                     or (o.status = 'processing' and o.locked_until < now()))
                and outbox_is_head(o.aggregate_type, o.aggregate_id, o.id)`;

/**
 * Claims up to `limit` events in one statement and leases them to `workerId`.
 *
 * Claimable: pending rows whose backoff has passed, and processing rows whose lease expired (their
 * worker died). Only the oldest open event of each aggregate qualifies, so the events of one order
 * are handled one at a time in commit order (for one row, id order is commit order: the UPDATE that
 * fires the trigger holds the row lock until commit). SKIP LOCKED lets any number of workers claim
 * at once without waiting for each other; a head row locked by another claimer is skipped, and the
 * rows behind it still see it open, so they wait too. `attempts` counts claims, so an event that
 * keeps crashing its worker still goes dead. The head check is a function (migration 0041) so that
 * the plan stays "walk outbox_open in id order, stop at the limit" whatever the statistics say.
 */
export async function claimBatch(
  db: Pick<pg.Pool, 'query'>,
  args: { limit: number; workerId: string; leaseMs: number },
): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>({
    name: 'outbox.claim',
    text: `with candidates as (
             select o.id
               from outbox o
              where ${CLAIMABLE}
              order by o.id
              limit $1
                for update of o skip locked
           )
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
    name: 'outbox.lock_batch',
    text: `select o.*
             from outbox o
            where ${CLAIMABLE}
            order by o.id
            limit $1
              for update of o skip locked`,
    values: [args.limit],
  });
  return rows;
}
