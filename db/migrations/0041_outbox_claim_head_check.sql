-- outbox_is_head(): is this the oldest open event of its aggregate? A function, so that the
-- planner cannot estimate it from the statistics (dropped by 0044). Why: docs/history.md, 0041.
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
