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
 * `after`, below every position's snapshot xmax, and deletes those every subscription has passed
 * (their writer visible in every position's snapshot) that were written more than `olderThanMs`
 * ago and that no subscription has parked. Its cost is that of `limit` index probes whatever the size of the log, its statistics,
 * or the number of parked events, by construction: the events are walked one `limit 1` range scan
 * of outbox_xid at a time (the horizon an index bound, not a join filter); "is it parked" is a
 * probe of outbox_parked_event per event (a scalar subquery, never turned into a join); the delete
 * goes by primary key. Parked events are stepped over, not read again by the next step.
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
    text: `with recursive
           horizon as materialized (
             select (select min(pg_snapshot_xmax(snapshot)) from outbox_subscriptions) as xmax),
           walk as (
             (select o.xid, o.id, o.created_at, 1 as n
                from outbox o
               where (o.xid, o.id) > ($3::xid8, $4::bigint)
                 and o.xid < (select xmax from horizon)
               order by o.xid, o.id
               limit 1)
             union all
             (select nxt.xid, nxt.id, nxt.created_at, w.n + 1
                from walk w
                cross join lateral (
                  select o.xid, o.id, o.created_at
                    from outbox o
                   where (o.xid, o.id) > (w.xid, w.id)
                     and o.xid < (select xmax from horizon)
                   order by o.xid, o.id
                   limit 1) nxt
               where w.n < $2)),
           examined as materialized (
             select w.xid, w.id, w.created_at,
                    w.created_at < now() - $1 * interval '1 millisecond'
                      and (select true from outbox_parked p where p.event_id = w.id limit 1)
                          is null
                      -- Below every position's xmax, but one of them may not have seen it yet
                      -- (its writer was running when the position was taken): kept.
                      and (select true from outbox_subscriptions s
                            where not pg_visible_in_snapshot(w.xid, s.snapshot) limit 1)
                          is null as deletable
               from walk w),
           deleted as (
             delete from outbox o
              where o.id = any (array(select id from examined where deletable))
             returning o.id),
           last as (select xid, id from examined order by xid desc, id desc limit 1)
           select (select count(*) from deleted) as deleted,
                  (select count(*) from examined) as examined,
                  (select bool_or(created_at >= now() - $1 * interval '1 millisecond')
                     from examined) as recent,
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
