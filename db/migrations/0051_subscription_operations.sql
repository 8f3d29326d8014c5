-- What an operator does to a subscription: pause and resume it, move its position (rewind to
-- deliver again, forward to skip), create one that starts from an event, a time or the oldest event
-- retained (a backfill), and retry or skip its parked events. New functions only: the reading and
-- delivering functions of 0050 are unchanged. docs/guarantees.md ("Operating subscriptions") says
-- what each promises and which test proves it.
--
-- Fencing: pausing and moving a position raise the subscription's lease token and clear its holder,
-- exactly as a take-over does. The holder's next statement is refused (OB001); its lane takes the
-- lease again at once (nobody holds it, and no try is counted), reads the new state and, paused,
-- rests, or reads from the new position. A round in flight whose writes are refused is done again
-- (at least once outside the database; an SQL round never committed). An SQL subscription's chunk
-- in flight holds the row lock, so the operator's statement waits for it instead.

-- 1. Dead parked events of a subscription, in event order (retry and skip look them up by filter).
create index outbox_parked_dead on outbox_parked (subscription, event_id) where state = 'dead';

-- 2. Pause and resume ------------------------------------------------------------------------------

-- Pauses (p_paused) or resumes a subscription; returns it (null when it does not exist). Pausing
-- fences the holder (above); a paused subscription keeps its position and parked events, and its
-- holder keeps the lease and reads nothing. Resuming also ends a whole-subscription back-off (the
-- operator says "try now"). Either way every instance's lanes are told at once (a NOTIFY with the
-- payload 'subscriptions'), and see it at their next poll if the notification is lost.
create function outbox_set_paused(p_name text, p_paused boolean) returns outbox_subscriptions
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions;
begin
  if p_paused then
    update outbox_subscriptions
       set state = 'paused', lease_token = lease_token + 1, lease_holder = null,
           lease_until = null, updated_at = now()
     where name = p_name and state <> 'paused'
    returning * into s;
  else
    update outbox_subscriptions
       set state = 'active', backoff_until = null, failures = 0, updated_at = now()
     where name = p_name and state <> 'active'
    returning * into s;
  end if;
  if s.name is null then
    select * into s from outbox_subscriptions where name = p_name;
  else
    perform pg_notify('outbox', 'subscriptions');
  end if;
  return s;
end;
$$;

-- 3. Events by time --------------------------------------------------------------------------------

-- The id of the first event written at or after p_at; null when there is none. The log has no
-- index on created_at (it would cost every capture): a binary search over the primary key, at most
-- 64 probes of one row each. It relies on ids following time: created_at is the writer's
-- transaction start and ids are taken at insert, so around p_at the boundary is exact to within
-- the writer transactions that were open across it.
create function outbox_first_event_at(p_at timestamptz) returns bigint
language plpgsql stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
  lo bigint := (select o.id from outbox o order by o.id limit 1);
  hi bigint := (select o.id from outbox o order by o.id desc limit 1);
  mid bigint;
  probe_id bigint;
  probe_at timestamptz;
begin
  if hi is null or (select o.created_at from outbox o where o.id = hi) < p_at then
    return null;
  end if;
  -- Invariant: the first event at or after `hi` was written at or after p_at, and every event
  -- before `lo` before it.
  while lo < hi loop
    mid := lo + (hi - lo) / 2;
    select o.id, o.created_at into probe_id, probe_at
      from outbox o where o.id >= mid order by o.id limit 1;
    if probe_at >= p_at then
      hi := mid;
    else
      lo := probe_id + 1;
    end if;
  end loop;
  return (select o.id from outbox o where o.id >= lo order by o.id limit 1);
end;
$$;

-- 4. Where a subscription stands ------------------------------------------------------------------

-- The first event after a subscription's position, in id order (the next one it reads, owed or
-- not): looked for in what is left of its open batch, among the transactions running when its
-- position (or batch) was taken, and, among up to `cap` events of those that began after it. Index
-- range scans only, as outbox_subscription_backlog.
create function outbox_subscription_next(s outbox_subscriptions, cap int,
                                         out id bigint, out created_at timestamptz)
language sql stable
set search_path = pg_catalog, public, pg_temp
as $$
  select a.id, a.created_at from (
    (select e.id, e.created_at
       from outbox_batch_events(s.snapshot, s.batch_snapshot, s.batch_cursor, s.batch_low,
                                s.batch_high, 1) e
      where s.batch_snapshot is not null)
    union all
    (select o.id, o.created_at from outbox o
      where o.xid = any (array(select pg_snapshot_xip(coalesce(s.batch_snapshot, s.snapshot))))
      order by o.id limit 1)
    union all
    (select f.id, f.created_at
       from (select o.id, o.created_at from outbox o
              where o.xid >= pg_snapshot_xmax(coalesce(s.batch_snapshot, s.snapshot))
              order by o.xid, o.id
              limit cap) f
      order by f.id limit 1)) a
  order by a.id
  limit 1
$$;

-- 5. Parked events in order -----------------------------------------------------------------------

-- After parked events (p_ids) were put back in line: in every aggregate they belong to, only the
-- first retrying event is due (now, if it is one of p_ids or was waiting), and every later one
-- waits behind it (available_at 'infinity', promoted by outbox_promote_waiting when the one ahead
-- is resolved). Keeps each aggregate's events one at a time, in order. By key: one probe of the
-- aggregate index per aggregate touched.
create function outbox_order_aggregates(p_name text, p_ids bigint[]) returns void
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  with touched as (
    select distinct p.aggregate_type, p.aggregate_id
      from outbox_parked p
     where p.subscription = p_name and p.event_id = any (p_ids)),
  ranked as (
    select q.event_id,
           row_number() over (partition by t.aggregate_type, t.aggregate_id order by q.event_id) as n
      from touched t
      cross join lateral (
        select w.event_id from outbox_parked w
         where w.subscription = p_name and w.state = 'retrying'
           and w.aggregate_type = t.aggregate_type and w.aggregate_id = t.aggregate_id) q)
  update outbox_parked p
     set available_at = case when r.n = 1 then now() else 'infinity'::timestamptz end,
         updated_at = now()
    from ranked r
   where p.subscription = p_name
     and p.event_id = r.event_id
     and case when r.n = 1 then p.event_id = any (p_ids) or p.available_at = 'infinity'
              else p.available_at < 'infinity' end
$$;

-- Retries parked events of a subscription: a dead one is retrying again, its tries from zero; a
-- retrying one is due now, its tries kept. A waiting one (behind an earlier event of its aggregate)
-- is left waiting. Then outbox_order_aggregates. last_error stays until the next try replaces it.
-- Returns how many were put back in line.
create function outbox_retry_parked(p_name text, p_ids bigint[]) returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  n bigint;
begin
  update outbox_parked p
     set state = 'retrying',
         attempts = case when p.state = 'dead' then 0 else p.attempts end,
         available_at = now(),
         updated_at = now()
   where p.subscription = p_name
     and p.event_id = any (p_ids)
     and (p.state = 'dead' or p.available_at < 'infinity');
  get diagnostics n = row_count;
  perform outbox_order_aggregates(p_name, p_ids);
  return n;
end;
$$;

-- Gives up parked events of a subscription (the delivery will not be made): their rows go, and the
-- next event waiting behind each becomes due. Returns how many were given up.
create function outbox_skip_parked(p_name text, p_ids bigint[]) returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  n bigint;
begin
  delete from outbox_parked p where p.subscription = p_name and p.event_id = any (p_ids);
  get diagnostics n = row_count;
  perform outbox_promote_waiting(p_name, p_ids);
  return n;
end;
$$;

-- 6. Moving a position ----------------------------------------------------------------------------

-- Moves a subscription's position so that it delivers from event p_from on (the first event at or
-- after that id): by id, not by writer transaction. Afterwards it owes every event with an id from
-- there on that is committed now, and every event that commits later.
--
-- * 'rewind' delivers again what it had consumed from there on (its parked events from there on
--   are dropped: they are read again) and never skips: the events before p_from it still owed (a
--   late writer's, or all of them when it lags behind p_from) are parked, due now and in order per
--   aggregate. Refused when there are more than p_cap of them, or too many events after its
--   position to look through (p_cap): forward it or let it catch up first.
-- * 'forward' skips the events before p_from it owed, and never delivers anything again: refused
--   when its open batch has already delivered past p_from. p_from null: skip everything committed
--   now. Parked events are not touched (retry or skip them on their own).
--
-- How: the position becomes a batch whose snapshot is now's and whose cursor is just before
-- p_from (rewind: from an empty snapshot, so that the batch holds everything from p_from on;
-- forward: from the old snapshot, so that what it had consumed stays consumed). The counts are
-- bounded: deliver_again examines at most p_cap events from p_from on (more: at least that many),
-- skip at most p_cap events per part of the position. p_dry_run: counts only, changes nothing.
-- The subscription's row is locked (an SQL chunk in flight finishes first), and its holder fenced.
create function outbox_move(p_name text, p_mode text, p_from bigint, p_dry_run boolean,
                            p_cap int,
                            out target_id bigint, out target_at timestamptz,
                            out deliver_again bigint, out deliver_again_more boolean,
                            out skip bigint, out skip_more boolean,
                            out kept bigint, out unparked bigint)
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions;
  now_snap pg_snapshot;
  head bigint;
  pos pg_snapshot;
  bound bigint;
  target_xid xid8;
  below bigint[];
  later bigint[];
  examined bigint;
  below_more boolean := false;
begin
  if p_mode not in ('rewind', 'forward') then
    raise exception 'outbox_move: mode % is neither rewind nor forward', p_mode;
  end if;
  select * into s from outbox_subscriptions where name = p_name for update;
  if not found then
    raise exception 'outbox subscription % does not exist', p_name using errcode = 'OB002';
  end if;
  now_snap := pg_current_snapshot();
  -- Read after the snapshot: at least every id it sees.
  head := (select o.id from outbox o order by o.id desc limit 1);
  if p_from is not null then
    select o.id, o.created_at, o.xid into target_id, target_at, target_xid
      from outbox o where o.id >= p_from order by o.id limit 1;
  end if;
  if p_mode = 'rewind' and target_id is null then
    raise exception 'outbox subscription %: no event at or after %, nothing to deliver again',
      p_name, p_from using errcode = 'OB004';
  end if;
  if p_mode = 'forward' and target_id is not null and s.batch_snapshot is not null
     and s.batch_cursor >= target_id then
    raise exception 'outbox subscription % has delivered up to event % already (its current batch); forward it past that, or rewind it',
      p_name, s.batch_cursor using errcode = 'OB004';
  end if;
  bound := coalesce(target_id, 9223372036854775807);
  pos := coalesce(s.batch_snapshot, s.snapshot);

  -- What it would deliver again: events of its types from the target on that it had consumed.
  deliver_again := 0;
  deliver_again_more := false;
  if p_mode = 'rewind' then
    select count(*) filter (
             where (s.event_types is null or w.event_type = any (s.event_types))
               and (pg_visible_in_snapshot(w.xid, s.snapshot)
                    or (s.batch_snapshot is not null
                        and pg_visible_in_snapshot(w.xid, s.batch_snapshot)
                        and w.id <= s.batch_cursor))),
           count(*)
      into deliver_again, examined
      from (select o.id, o.xid, o.event_type from outbox o
             where o.id >= target_id order by o.id limit p_cap + 1) w;
    deliver_again_more := examined > p_cap;
  end if;

  -- The events of its types before the target it still owes, committed now (the ones running now
  -- commit later, and are owed after the move as before): what is left of its open batch, the
  -- transactions running when its position was taken, and those that began after it.
  below := array(
    select e.id
      from (select o.id, o.event_type
              from pg_snapshot_xip(s.snapshot) as x(xid)
              cross join lateral (
                select o.id, o.event_type from outbox o
                 where o.xid = x.xid and o.id > s.batch_cursor and o.id < bound
                 order by o.id limit p_cap + 1) o
             where s.batch_snapshot is not null
               and pg_visible_in_snapshot(x.xid, s.batch_snapshot)
            union all
            (select o.id, o.event_type from outbox o
              where s.batch_snapshot is not null
                and o.id > greatest(s.batch_cursor, s.batch_low - 1)
                and o.id <= least(s.batch_high, bound - 1)
                and pg_visible_in_snapshot(o.xid, s.batch_snapshot)
                and not pg_visible_in_snapshot(o.xid, s.snapshot)
                and not o.xid = any (array(select pg_snapshot_xip(s.snapshot)))
              order by o.id limit p_cap + 1)
            union all
            select o.id, o.event_type
              from pg_snapshot_xip(pos) as x(xid)
              cross join lateral (
                select o.id, o.event_type from outbox o
                 where o.xid = x.xid and o.id < bound
                 order by o.id limit p_cap + 1) o
             where pg_visible_in_snapshot(x.xid, now_snap)) e
     where s.event_types is null or e.event_type = any (s.event_types));
  -- Those that began after the position were written after every event it can see: when the
  -- target is one of those, none of them is before it. Otherwise look through them, p_cap at most.
  if target_xid is null or not pg_visible_in_snapshot(target_xid, pos) then
    select coalesce(array_agg(w.id) filter (
                      where w.id < bound and pg_visible_in_snapshot(w.xid, now_snap)
                        and (s.event_types is null or w.event_type = any (s.event_types))), '{}'),
           count(*)
      into later, examined
      from (select o.id, o.xid, o.event_type from outbox o
             where o.xid >= pg_snapshot_xmax(pos)
             order by o.xid, o.id limit p_cap + 1) w;
    below := below || later;
    below_more := examined > p_cap;
  end if;
  below_more := below_more or cardinality(below) > p_cap;

  kept := 0;
  skip := 0;
  skip_more := false;
  unparked := 0;
  if p_mode = 'rewind' then
    if below_more then
      raise exception 'outbox subscription % owes more than % events before event % (or lags too far to tell): let it catch up, or forward it, before rewinding past them',
        p_name, p_cap, target_id using errcode = 'OB004';
    end if;
    kept := cardinality(below);
    if p_dry_run then
      unparked := (select count(*) from outbox_parked p
                    where p.subscription = p_name and p.event_id >= target_id);
      return;
    end if;
    delete from outbox_parked p where p.subscription = p_name and p.event_id >= target_id;
    get diagnostics unparked = row_count;
    insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state,
                               attempts, available_at)
    select p_name, o.id, o.aggregate_type, o.aggregate_id, 'retrying', 0, 'infinity'
      from outbox o where o.id = any (below)
    on conflict (subscription, event_id) do nothing;
    perform outbox_order_aggregates(p_name, below);
    update outbox_subscriptions
       -- Rewound past where it started: it starts there now (outbox_delivery lists those events).
       set origin = case when pg_visible_in_snapshot(target_xid, origin)
                         then (target_xid::text || ':' || target_xid::text || ':')::pg_snapshot
                         else origin end,
           snapshot = '1:1:', batch_snapshot = now_snap, batch_cursor = target_id - 1,
           batch_low = target_id, batch_high = greatest(head, target_id),
           attempts = 1, lease_token = lease_token + 1, lease_holder = null, lease_until = null,
           updated_at = now()
     where name = p_name;
  else
    skip := cardinality(below);
    skip_more := below_more;
    if p_dry_run then
      return;
    end if;
    if target_id is null then
      update outbox_subscriptions
         set snapshot = now_snap, batch_snapshot = null, batch_cursor = 0, batch_low = null,
             batch_high = null, attempts = 1, lease_token = lease_token + 1,
             lease_holder = null, lease_until = null, updated_at = now()
       where name = p_name;
    else
      update outbox_subscriptions
         set batch_snapshot = now_snap, batch_cursor = target_id - 1, batch_low = target_id,
             batch_high = greatest(head, target_id), attempts = 1,
             lease_token = lease_token + 1, lease_holder = null, lease_until = null,
             updated_at = now()
       where name = p_name;
    end if;
  end if;
  perform pg_notify('outbox', 'subscriptions');
end;
$$;

-- 7. Creating a subscription ----------------------------------------------------------------------

-- Creates a subscription before any instance serves it (an instance that declares it later sets
-- its kind and event types, and never moves its position): from now ('now'), from the oldest event
-- retained ('oldest'), or from the first event at or after p_from ('event'; none: from now). Its
-- progress shows as lag that shrinks. Returns it, or null when one of that name exists.
create function outbox_create_subscription(p_name text, p_kind text, p_event_types text[],
                                           p_start text, p_from bigint, p_paused boolean)
returns outbox_subscriptions
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions;
  now_snap pg_snapshot := pg_current_snapshot();
  head bigint := (select o.id from outbox o order by o.id desc limit 1);
  target_id bigint;
  target_xid xid8;
begin
  if p_start = 'event' then
    select o.id, o.xid into target_id, target_xid
      from outbox o where o.id >= p_from order by o.id limit 1;
  elsif p_start not in ('now', 'oldest') then
    raise exception 'outbox_create_subscription: start % is not now, oldest or event', p_start;
  end if;
  insert into outbox_subscriptions (name, kind, event_types, state, origin, snapshot,
                                    batch_snapshot, batch_cursor, batch_low, batch_high)
  select p_name, p_kind, p_event_types,
         case when p_paused then 'paused' else 'active' end,
         case when p_start = 'oldest' then '1:1:'::pg_snapshot
              when target_id is null then now_snap
              -- By writer transaction (a snapshot cannot say "from id N"): outbox_delivery lists
              -- for it the events of N's writer and of those that began after it.
              else (target_xid::text || ':' || target_xid::text || ':')::pg_snapshot end,
         case when p_start = 'oldest' or target_id is not null then '1:1:'::pg_snapshot
              else now_snap end,
         case when target_id is not null then now_snap end,
         coalesce(target_id - 1, 0),
         target_id,
         case when target_id is not null then greatest(head, target_id) end
  on conflict (name) do nothing
  returning * into s;
  return s;
end;
$$;
