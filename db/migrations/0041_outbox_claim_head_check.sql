-- The claim's "is this the oldest open event of its aggregate?" check, as a function.
--
-- Why a function: written inline (NOT EXISTS, or id = (select min(...))), the check gets a
-- selectivity estimate from the column statistics, and those are often taken by autovacuum at a
-- quiet moment when nothing was open. With such statistics the planner turned the claim into an
-- anti-join over every open row (750 ms per claim of 100 with 20,000 open rows, measured on
-- PostgreSQL 15 here) or, with fresh statistics, into a bitmap scan plus a sort of every open row
-- (93 ms). A function call is opaque to the planner (default selectivity), so the claim keeps the
-- plan it is meant to have whatever the statistics say: walk outbox_open in id order, check each
-- row with one probe of outbox_open_by_aggregate, stop at the batch size (about 1 ms for 100).
create function outbox_is_head(agg_type text, agg_id text, event_id bigint) returns boolean
language plpgsql stable parallel safe cost 5 as $$
begin
  return not exists (
    select 1 from outbox earlier
     where earlier.aggregate_type = agg_type
       and earlier.aggregate_id = agg_id
       and earlier.id < event_id
       and earlier.status in ('pending', 'processing'));
end;
$$;
