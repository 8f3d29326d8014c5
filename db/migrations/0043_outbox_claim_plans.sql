-- Claim plans that do not depend on the outbox's statistics: outbox_open only for queries that
-- say "id > 0"; the claim in outbox_lock_claimable(), with sorts, sequential and bitmap scans
-- disabled for its plan. Why: docs/history.md, 0043.

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
