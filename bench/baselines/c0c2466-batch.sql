-- The built-in subscription's batch as commit c0c2466 ran it ("today's" outbox, migrations up to
-- 0046): oneStatementBatchSql([notifyClientHandler]) of src/outbox/sql/one-statement.ts at that
-- commit, rendered verbatim (`git show c0c2466:src/outbox/sql/one-statement.ts`). Run through
-- outbox_run_batch($statement, $limit, $now) of migration 0046: lock up to $1 claimable events
-- (outbox_lock_claimable, 0044), insert their notifications, and update every locked outbox row
-- to done (status, attempts, processed_at, deliveries, lock columns). bench/baselines/c0c2466.ts
-- replays it; bench/sections/wal.ts measures its WAL side by side with the event log's.
with batch as materialized (select * from outbox_lock_claimable($1)),
    effect_0 as (
       with events as (select b.* from batch b where b.event_type in ('order.status_changed') and coalesce(b.deliveries -> 'notify-client' ->> 'status', '') <> 'done')
       insert into notifications (event_id, client_id, order_id, channel, subject, body)
              select e.id, (e.payload #>> '{new,client_id}')::int, (e.payload #>> '{new,id}')::int,
                     'email', m.subject, m.body
                from events e
               cross join lateral order_status_message(e.payload) m
              on conflict (event_id) do nothing),
    
    settled as (
      update outbox o
         set status = 'done',
             attempts = o.attempts + 1,
             processed_at = clock_timestamp(),
             last_error = null,
             deliveries = o.deliveries
       || case when b.event_type in ('order.status_changed') and coalesce(b.deliveries -> 'notify-client' ->> 'status', '') <> 'done'
            then jsonb_build_object('notify-client', jsonb_build_object(
                   'status', 'done',
                   'attempts', coalesce((b.deliveries -> 'notify-client' ->> 'attempts')::int, 0) + 1,
                   'at', $2::text))
            else '{}'::jsonb end,
             locked_by = null,
             locked_until = null
        from batch b
       where o.id = b.id
      returning o.id, o.aggregate_type, o.aggregate_id, o.event_type, o.payload, o.created_at,
                o.attempts, b.deliveries as previous_deliveries)
    select * from settled
