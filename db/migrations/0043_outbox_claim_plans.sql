-- Claim plans that do not depend on the outbox's statistics.
--
-- The outbox is a queue: autovacuum (or ANALYZE) often records its statistics at a quiet moment,
-- when nothing is open, and the partial indexes then say "0 tuples" however many rows are open
-- an instant later. With those statistics PostgreSQL 15 planned, measured here with 30,000 open
-- rows after a burst:
--   * the head check (0041) as a walk of outbox_open (id) from its start, filtering on the
--     aggregate: one probe read every open row before the event, ~0.9 ms per call, 8 s for the
--     claims of a 30,000-event backlog (quadratic in the backlog);
--   * the claim as a bitmap scan of every open row plus a sort, instead of a walk in id order
--     that stops at the batch size. A bitmap scan never marks index entries of dead row versions
--     as dead, so every claim re-read all of them until the next vacuum (autovacuum looks at a
--     database once a minute by default): 6 ms per empty claim after 45,000 events, rising.
--   * worse, plans cached while the outbox was still small: PL/pgSQL keeps a generic plan per
--     session, and a generic plan made when the table had a few hundred rows (a fresh database,
--     not yet analyzed) was a sequential scan. Nothing invalidates it as the table grows, until
--     (auto)vacuum or analyze touches the table: the head check read the whole outbox for every
--     row the claim looked at, 1.3 ms per row at 40,000 rows, 1-10 s per claim.
-- Claims slow enough to hit the statement timeout during the benchmark's capture section, and
-- the latency tail after it (docs/performance.md), came from these plans.
--
-- The fixes take the choice away from the statistics:
--   * outbox_open gets "id > 0" in its predicate. Every id is positive, so it holds the same
--     entries, but only a query that says "id > 0" can use it: the claim does, the head check
--     does not, so the head check can only probe an index that starts with the aggregate.
--   * The claim runs inside outbox_lock_claimable(), with sorting disabled for its plan: the only
--     way left to return rows in id order is to walk outbox_open in order, which stops at the
--     limit and marks dead entries as it passes them (so the next claim skips them cheaply).
--   * The claim may not plan a sequential or bitmap scan either, and settings made for a function
--     hold for what it calls: the head check's plan, made and cached inside the claim, is an index
--     probe too, so a plan made on a small table is still one when the table is large. (Setting
--     them on outbox_is_head() itself would cost a save and restore per row: +0.5 ms per claim of
--     500, measured.) outbox_is_head() is meant to be called only from here.

drop index outbox_open;
create index outbox_open on outbox (id)
  where status in ('pending', 'processing') and id > 0;

-- Locks up to batch_limit claimable events, oldest first, for the calling transaction: pending
-- rows whose backoff has passed, processing rows whose lease expired, and of those only the
-- oldest open event of each aggregate (outbox_is_head). SKIP LOCKED: claimers never wait for
-- each other. Used by both claims (src/outbox/sql/claim.ts).
create function outbox_lock_claimable(batch_limit int) returns setof outbox
language plpgsql volatile
set enable_sort = off
set enable_seqscan = off
set enable_bitmapscan = off
as $$
begin
  return query
    select o.*
      from outbox o
     where o.status in ('pending', 'processing')
       and o.id > 0
       and ((o.status = 'pending' and o.available_at <= now())
            or (o.status = 'processing' and o.locked_until < now()))
       and outbox_is_head(o.aggregate_type, o.aggregate_id, o.id)
     order by o.id
     limit batch_limit
       for update of o skip locked;
end;
$$;
