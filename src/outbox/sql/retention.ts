import type pg from 'pg';

// Unnamed: planned with the table's current size each time.

export interface RetentionStep {
  deleted: number;
  /** Where the next step starts (the last event examined, in (xid, id) order). */
  after: { xid: string; id: string } | null;
  /** Fewer than `limit` were old enough and passed by every subscription: the run may end. */
  done: boolean;
}

/**
 * One bounded step of retention: examines the next `limit` events, in (xid, id) order after
 * `after`, among those every subscription has passed (their writer is older than every position's
 * snapshot), and deletes the ones written more than `olderThanMs` ago that no subscription has
 * parked. Its cost is that of `limit` index entries, whatever the size of the log: the parked
 * events it keeps are stepped over, not read again. Served by outbox_xid (migration 0050).
 */
export async function deleteRetainedStep(
  db: Pick<pg.PoolClient, 'query'>,
  args: { olderThanMs: number; limit: number; after: { xid: string; id: string } | null },
): Promise<RetentionStep> {
  const { rows } = await db.query<{
    deleted: string;
    examined: string;
    recent: boolean | null;
    last_xid: string | null;
    last_id: string | null;
  }>({
    text: `with horizon as (
             select min(pg_snapshot_xmin(snapshot)) as xmin from outbox_subscriptions),
           candidates as materialized (
             select o.id, o.xid, o.created_at
               from outbox o, horizon h
              where o.xid < h.xmin and (o.xid, o.id) > ($3::xid8, $4::bigint)
              order by o.xid, o.id
              limit $2),
           deleted as (
             delete from outbox o using candidates c
              where o.id = c.id
                and c.created_at < now() - $1 * interval '1 millisecond'
                and not exists (select 1 from outbox_parked p where p.event_id = c.id)
             returning o.id),
           last as (select xid, id from candidates order by xid desc, id desc limit 1)
           select (select count(*) from deleted) as deleted,
                  (select count(*) from candidates) as examined,
                  (select bool_or(created_at >= now() - $1 * interval '1 millisecond')
                     from candidates) as recent,
                  (select xid::text from last) as last_xid,
                  (select id from last) as last_id`,
    values: [args.olderThanMs, args.limit, args.after?.xid ?? '0', args.after?.id ?? '0'],
  });
  const r = rows[0]!;
  return {
    deleted: Number(r.deleted),
    after: r.last_xid && r.last_id ? { xid: r.last_xid, id: r.last_id } : args.after,
    done: Number(r.examined) < args.limit || r.recent === true,
  };
}
