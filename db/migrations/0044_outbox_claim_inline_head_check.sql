-- The head check inside the claim as a NOT EXISTS (hash and merge joins disabled for its plan);
-- outbox_by_aggregate only for queries that say "id > 0"; outbox_is_head() dropped.
-- Why: docs/history.md, 0044.

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
