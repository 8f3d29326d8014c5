-- The head check inside the claim, as a join instead of a function call per row.
--
-- outbox_is_head() (0041) ran once per row the claim looked at, and a PL/pgSQL call costs more
-- than the index probe it makes: 14-15 ms for a claim of 500 from a backlog of 100,000 events
-- (10 per order), against 4 ms with the same probe as an anti-join (PostgreSQL 15, measured in a
-- rolled-back transaction, 4 runs each). The claim was the largest part of a drain batch.
--
-- 0041 made it a function because the inline form, planned from stale statistics, became a hash
-- or merge join over every open row (750 ms per claim). Inside outbox_lock_claimable() the
-- planner now has no such choice: hash and merge joins are disabled for its plan (as sorts,
-- sequential and bitmap scans already are, 0043), so the only way to run the NOT EXISTS is a
-- nested loop that probes an index once per row, whatever the statistics or the cached plan say.
--
-- Which index it probes must not depend on them either: outbox_by_aggregate (every row, done ones
-- included) would walk an order's whole history for each probe, where outbox_open_by_aggregate
-- holds only its open events. outbox_by_aggregate gets "id > 0" in its predicate (every id is
-- positive, so it holds the same entries): the probe says "earlier.id < o.id", which cannot prove
-- id > 0, so it can only use outbox_open_by_aggregate. The admin API's aggregate filter says
-- "id > 0" (src/admin/admin.repo.ts), as the claim does for outbox_open (0043).

drop index outbox_by_aggregate;
create index outbox_by_aggregate on outbox (aggregate_type, aggregate_id, id) where id > 0;

-- Locks up to batch_limit claimable events, oldest first, for the calling transaction: pending
-- rows whose backoff has passed, processing rows whose lease expired, and of those only the
-- oldest open event of each aggregate (no earlier pending or processing one). SKIP LOCKED:
-- claimers never wait for each other. Used by both claims (src/outbox/sql/claim.ts).
create or replace function outbox_lock_claimable(batch_limit int) returns setof outbox
language plpgsql volatile
set enable_sort = off
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
begin
  return query
    select o.*
      from outbox o
     where o.status in ('pending', 'processing')
       and o.id > 0
       and ((o.status = 'pending' and o.available_at <= now())
            or (o.status = 'processing' and o.locked_until < now()))
       and not exists (
             select 1 from outbox earlier
              where earlier.aggregate_type = o.aggregate_type
                and earlier.aggregate_id = o.aggregate_id
                and earlier.id < o.id
                and earlier.status in ('pending', 'processing'))
     order by o.id
     limit batch_limit
       for update of o skip locked;
end;
$$;

drop function outbox_is_head(text, text, bigint);
