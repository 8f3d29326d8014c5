-- The outbox becomes an append-only event log that every subscription reads at its own position.
-- Nothing on the success path updates or deletes an event row any more; what a subscription owes
-- is its position plus the events it parked (outbox_parked). docs/guarantees.md explains the model.
-- Every function pins its search_path (see 0060 for why and what it costs).

-- 1. The log ------------------------------------------------------------------------------------

-- The writer's transaction id. Rows written before this migration read '1' (a fast default: no
-- rewrite), older than any snapshot, so every subscription's position already covers them; the
-- ones still owed are parked below. New rows take the writer's own id.
alter table outbox add column xid xid8 not null default '1';
alter table outbox alter column xid set default pg_current_xact_id();

-- Reads a batch's transactions still running at its start (xid = ...), and finds the id range of
-- the transactions that began after it (xid >= ...). Also retention's order.
create index outbox_xid on outbox (xid, id);

-- 2. Subscriptions ------------------------------------------------------------------------------

-- One row per consumer of the log. Its position is a snapshot (`snapshot`): every event whose
-- writer is visible in it has been consumed. A batch is what a later snapshot (`batch_snapshot`)
-- sees and `snapshot` does not; it is read in id order, `batch_cursor` being the last id consumed,
-- and the ids of its transactions that began after `snapshot` lie in [batch_low, batch_high].
create table outbox_subscriptions (
  name text primary key,
  -- 'sql' | 'transactional' (effects commit with the position) | 'external' (at least once).
  kind text not null,
  -- The event types it takes; null: every type.
  event_types text[],
  state text not null default 'active' check (state in ('active', 'paused', 'backing_off')),
  -- Where it started: the events visible here were never owed to it.
  origin pg_snapshot not null,
  snapshot pg_snapshot not null,
  batch_snapshot pg_snapshot,
  batch_cursor bigint not null default 0,
  batch_low bigint,
  batch_high bigint,
  -- Tries started on the events at the position, the next one included: raised before a retry and
  -- when a lease that ran out is taken over, so a try that never finishes (a crash) still counts.
  attempts int not null default 1 check (attempts >= 1),
  -- Whole-subscription back-off: every call of the last tries failed (an endpoint down).
  failures int not null default 0,
  backoff_until timestamptz,
  last_error text,
  -- The lease: one instance serves a subscription at a time. lease_token is a fencing token, raised
  -- at every acquisition; every write of the holder names it, so a former holder cannot commit.
  lease_holder text,
  lease_until timestamptz,
  lease_token bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Events a subscription could not deliver (retrying, with backoff; dead after the maximum), and
-- the later events of the same aggregate waiting behind one (retrying, attempts 0, available_at
-- 'infinity' until the one ahead is resolved).
create table outbox_parked (
  subscription text not null references outbox_subscriptions (name) on update cascade,
  event_id bigint not null references outbox (id),
  aggregate_type text not null,
  aggregate_id text not null,
  state text not null default 'retrying' check (state in ('retrying', 'dead')),
  attempts int not null default 0,
  available_at timestamptz not null,
  last_error text,
  parked_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (subscription, event_id)
);
-- The due retries of a subscription (waiting rows sit at 'infinity', past every due scan).
create index outbox_parked_due on outbox_parked (subscription, available_at)
  where state = 'retrying';
-- "Does this aggregate have an unresolved parked event here?": probed for every event read.
create index outbox_parked_aggregate on outbox_parked (subscription, aggregate_type, aggregate_id, event_id)
  where state = 'retrying';
-- Retention and the delivery view look parked events up by event.
create index outbox_parked_event on outbox_parked (event_id);

-- 3. Reading the log ----------------------------------------------------------------------------

-- The events of the batch `done` -> `upto` after `after_id`, in id order, at most batch_limit:
-- the writers visible in `upto` and not in `done`. Two range scans, neither of which can grow with
-- the table: the transactions that were running when `done` was taken (its xip list), each by the
-- (xid, id) index; and those that began after it, by the primary key over [low, high] (only the id
-- range is indexable in that branch, so that is the plan). Ids follow commit order per aggregate
-- (a row lock orders the writers of one aggregate), so id order keeps each aggregate's order.
create function outbox_batch_events(done pg_snapshot, upto pg_snapshot, after_id bigint,
                                    low bigint, high bigint, batch_limit int)
returns setof outbox
language sql stable
set search_path = pg_catalog, public, pg_temp
as $$
  select b.* from (
    select e.*
      from pg_snapshot_xip(done) as x(xid)
      cross join lateral (
        select o.* from outbox o
         where o.xid = x.xid and o.id > after_id
         order by o.id
         limit batch_limit) e
     where pg_visible_in_snapshot(x.xid, upto)
    union all
    (select o.* from outbox o
      where o.id > greatest(after_id, low - 1) and o.id <= high
        and pg_visible_in_snapshot(o.xid, upto)
        and not pg_visible_in_snapshot(o.xid, done)
        and not o.xid = any (array(select pg_snapshot_xip(done)))
      order by o.id
      limit batch_limit)
  ) b
  order by b.id
  limit batch_limit
$$;

-- Raises "lease lost" unless p_token is the subscription's current lease token. With p_lock (the
-- default), also locks the subscription's row for the rest of the transaction: a take-over (which
-- raises the token) waits for it, and a former holder's later statements are refused.
create function outbox_check_lease(p_name text, p_token bigint, p_lock boolean default true)
returns outbox_subscriptions
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions;
begin
  if p_lock then
    select * into s from outbox_subscriptions where name = p_name for update;
  else
    select * into s from outbox_subscriptions where name = p_name;
  end if;
  if not found then
    raise exception 'outbox subscription % does not exist', p_name using errcode = 'OB002';
  end if;
  if s.lease_token <> p_token then
    raise exception 'outbox subscription %: lease lost (token % is not current, % is)',
      p_name, p_token, s.lease_token using errcode = 'OB001';
  end if;
  return s;
end;
$$;

-- One event as a subscription reads it: `owed` says whether the subscription takes its type (the
-- payload comes only then), `blocked` whether an earlier event of its aggregate is parked there,
-- `attempt` which try of it this is. An SQL effect sees the events it handles as a relation
-- `events` of this type.
create type outbox_event as (
  id bigint,
  aggregate_type text,
  aggregate_id text,
  event_type text,
  payload jsonb,
  created_at timestamptz,
  owed boolean,
  blocked boolean,
  attempt int
);

-- The subscription's next events, at most p_limit, read from its position (locked, fenced by the
-- lease token). Opens a batch when none is open: its snapshot is this statement's, and its id
-- range is recorded, but only when it holds anything (an idle poll writes nothing). An open batch
-- with nothing left (its last chunk filled the limit exactly) is closed, and the next one opened.
-- Every row read comes back, owed or not, so that the caller knows where the chunk ends. The
-- subscription's row is locked (and the token checked again) only once there is something to
-- deliver: an empty read, most reads of an idle or lightly loaded subscription, locks nothing and
-- writes nothing. Reading before locking is safe: only the lease holder moves the position, and a
-- take-over raises the token, which the locking check then refuses.
create function outbox_next_events(p_name text, p_token bigint, p_limit int)
returns setof outbox_event
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions := outbox_check_lease(p_name, p_token, false);
  opened boolean;
begin
  loop
    opened := s.batch_snapshot is null;
    if opened then
      s.batch_snapshot := pg_current_snapshot();
      s.batch_cursor := 0;
      -- Through a subquery: as a plain min()/max(), the planner may turn either into a walk of
      -- the primary key from one end, filtered on xid, which reads the whole log when it is long.
      -- Through EXECUTE: planned with this batch's bounds each time (a range of a few xids, an
      -- index scan), never a cached generic plan made while the log was small (a sequential
      -- scan that stays one: 136 ms per batch at 300,000 events, measured).
      execute 'select min(r.id), max(r.id)
                 from (select o.id from outbox o
                        where o.xid >= $1 and o.xid < $2 and pg_visible_in_snapshot(o.xid, $3)
                       offset 0) r'
         into s.batch_low, s.batch_high
        using pg_snapshot_xmax(s.snapshot), pg_snapshot_xmax(s.batch_snapshot), s.batch_snapshot;
    end if;
    return query
      select e.id, e.aggregate_type, e.aggregate_id, e.event_type,
             case when o.owed then e.payload end, e.created_at, o.owed,
             -- One index probe per event: a scalar subquery with a limit, which the planner
             -- cannot turn into a hash of every parked event of the subscription (as it may an
             -- EXISTS).
             o.owed and (select true from outbox_parked p
                          where p.subscription = p_name and p.state = 'retrying'
                            and p.aggregate_type = e.aggregate_type
                            and p.aggregate_id = e.aggregate_id
                          limit 1) is not null,
             s.attempts
        -- outbox_batch_events(), written out: a function call of its own would be planned
        -- again on every call (about 1.5 ms), here the plan is kept with this function's.
        from (select b.* from (
                select e.*
                  from pg_snapshot_xip(s.snapshot) as x(xid)
                  cross join lateral (
                    select o.* from outbox o
                     where o.xid = x.xid and o.id > s.batch_cursor
                     order by o.id
                     limit p_limit) e
                 where pg_visible_in_snapshot(x.xid, s.batch_snapshot)
                union all
                (select o.* from outbox o
                  where o.id > greatest(s.batch_cursor, s.batch_low - 1) and o.id <= s.batch_high
                    and pg_visible_in_snapshot(o.xid, s.batch_snapshot)
                    and not pg_visible_in_snapshot(o.xid, s.snapshot)
                    and not o.xid = any (array(select pg_snapshot_xip(s.snapshot)))
                  order by o.id
                  limit p_limit)) b
              order by b.id
              limit p_limit) e
        cross join lateral (
          select s.event_types is null or e.event_type = any (s.event_types) as owed) o;
    if found then
      perform outbox_check_lease(p_name, p_token);
      if opened then
        update outbox_subscriptions
           set batch_snapshot = s.batch_snapshot, batch_cursor = 0, batch_low = s.batch_low,
               batch_high = s.batch_high, updated_at = now()
         where name = p_name;
      end if;
      return;
    end if;
    if opened then
      return;
    end if;
    perform outbox_check_lease(p_name, p_token);
    update outbox_subscriptions
       set snapshot = s.batch_snapshot, batch_snapshot = null, batch_cursor = 0,
           batch_low = null, batch_high = null, updated_at = now()
     where name = p_name;
    s.snapshot := s.batch_snapshot;
    s.batch_snapshot := null;
  end loop;
end;
$$;

-- When a retry is due: base * 2^(attempts - 1), capped, with "equal jitter" (half fixed, half
-- random) so that the failures of a burst do not retry in step; never sooner than retry_after_ms.
create function outbox_retry_at(attempts int, base_ms float8, max_ms float8, retry_after_ms float8)
returns timestamptz
language sql volatile
set search_path = pg_catalog, public, pg_temp
as $$
  select now() + greatest(coalesce(retry_after_ms, 0),
                          least(max_ms, base_ms * power(2, least(greatest(attempts, 1) - 1, 40)))
                            * (0.5 + random() * 0.5)) * interval '1 millisecond'
$$;

-- Parks events in a subscription. p_parked: [{ event_id, aggregate_type, aggregate_id, state
-- ('retrying' | 'dead' | 'waiting'), attempts, last_error, retry_after_ms }]. A waiting event
-- waits behind an earlier one of its aggregate; a retrying one is due after the backoff.
create function outbox_park(p_name text, p_parked jsonb, base_ms float8, max_ms float8)
returns void
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  insert into outbox_parked as p (subscription, event_id, aggregate_type, aggregate_id, state,
                                  attempts, available_at, last_error)
  select p_name, r.event_id, r.aggregate_type, r.aggregate_id,
         case when r.state = 'dead' then 'dead' else 'retrying' end,
         coalesce(r.attempts, 0),
         case r.state when 'waiting' then 'infinity'::timestamptz
                      when 'dead' then now()
                      else outbox_retry_at(r.attempts, base_ms, max_ms, r.retry_after_ms) end,
         r.last_error
    from jsonb_to_recordset(p_parked) as r(event_id bigint, aggregate_type text,
                                           aggregate_id text, state text, attempts int,
                                           last_error text, retry_after_ms float8)
  on conflict (subscription, event_id) do nothing
$$;

-- When the subscription's earliest parked retry is due; null when none is (waiting events, at
-- 'infinity', are not due until the event ahead of them is resolved).
create function outbox_next_retry_at(p_name text) returns timestamptz
language sql stable
set search_path = pg_catalog, public, pg_temp
as $$
  select p.available_at from outbox_parked p
   where p.subscription = p_name and p.state = 'retrying' and p.available_at < 'infinity'
   order by p.available_at
   limit 1
$$;

-- Moves the position past the events read up to p_cursor (the batch's end when p_exhausted) and
-- parks what could not be delivered, in one fenced statement: a success resets the tries and the
-- whole-subscription back-off. Returns when the earliest parked retry is due.
create function outbox_advance(p_name text, p_token bigint, p_cursor bigint, p_exhausted boolean,
                               p_parked jsonb, base_ms float8, max_ms float8)
returns timestamptz
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform outbox_check_lease(p_name, p_token);
  if jsonb_array_length(coalesce(p_parked, '[]')) > 0 then
    perform outbox_park(p_name, p_parked, base_ms, max_ms);
  end if;
  update outbox_subscriptions
     set snapshot = case when p_exhausted then batch_snapshot else snapshot end,
         batch_snapshot = case when p_exhausted then null else batch_snapshot end,
         batch_cursor = case when p_exhausted then 0 else p_cursor end,
         batch_low = case when p_exhausted then null else batch_low end,
         batch_high = case when p_exhausted then null else batch_high end,
         attempts = 1,
         failures = 0,
         state = case when state = 'backing_off' then 'active' else state end,
         backoff_until = null,
         last_error = null,
         updated_at = now()
   where name = p_name and batch_snapshot is not null;
  return outbox_next_retry_at(p_name);
end;
$$;

-- The batch of a subscription whose effect is one SQL statement over the relation `events`, in one
-- statement: read the next events, run the effect over the owed ones that nothing parked holds
-- back, park those held back, move the position. Effects and position commit together (exactly
-- once); if the effect fails, nothing is written and the caller isolates the event at fault.
-- Refuses (OB003) when the tries of the events at the position are used up: the caller decides.
-- Returns how many events it read, whether that ended the batch, how many it parked behind an
-- earlier event of their aggregate, and the handled events, for metrics and the live page, as
-- one json array of arrays (positional: id, type, aggregate type and id, created_at, attempt,
-- op, old, new): a jsonb object per event cost 16-30 ms of a 45 ms chunk of 500, columns of
-- PostgreSQL arrays cost the service more to parse than the chunk took (JSON.parse is native).
create function outbox_run_sql_batch(p_name text, p_token bigint, p_limit int, p_effect text,
                                     p_max_attempts int,
                                     out read int, out exhausted boolean, out waiting int,
                                     out next_retry_at timestamptz, out handled json)
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  batch outbox_event[] := array(select n from outbox_next_events(p_name, p_token, p_limit) n
                                order by n.id);
  go outbox_event[];
  parked jsonb;
begin
  read := coalesce(array_length(batch, 1), 0);
  exhausted := read < p_limit;
  waiting := 0;
  if read = 0 then
    -- Nothing to move: outbox_next_events closed a finished batch, and opened none.
    next_retry_at := outbox_next_retry_at(p_name);
    return;
  end if;
  if batch[1].attempt > p_max_attempts then
    raise exception 'outbox subscription %: the tries of event % are used up', p_name,
      batch[1].id using errcode = 'OB003';
  end if;
  go := array(select b from unnest(batch) b where b.owed and not b.blocked);
  if coalesce(array_length(go, 1), 0) > 0 then
    execute 'with events as (select * from unnest($1::outbox_event[])) ' || p_effect using go;
  end if;
  select count(*),
         coalesce(jsonb_agg(jsonb_build_object(
           'event_id', b.id, 'aggregate_type', b.aggregate_type,
           'aggregate_id', b.aggregate_id, 'state', 'waiting')), '[]')
    into waiting, parked
    from unnest(batch) b
   where b.owed and b.blocked;
  next_retry_at := outbox_advance(p_name, p_token, batch[read].id, exhausted, parked, 0, 0);
  select json_agg(json_build_array(g.id::text, g.event_type, g.aggregate_type, g.aggregate_id,
                                   g.created_at, g.attempt, g.payload -> 'op', g.payload -> 'old',
                                   g.payload -> 'new'))
    into handled
    from unnest(go) g;
end;
$$;

-- 4. Parked events ------------------------------------------------------------------------------

-- Up to p_limit parked events of the subscription whose retry is due, oldest due first, each with
-- its try counted before it starts (the caller commits this before delivering).
create function outbox_due_parked(p_name text, p_token bigint, p_limit int)
returns setof outbox_event
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  s outbox_subscriptions := outbox_check_lease(p_name, p_token);
begin
  return query
    -- By key (= any of the due ids), never by a join the planner might answer with a scan of
    -- every parked event of the subscription.
    with due as (
      update outbox_parked p
         set attempts = p.attempts + 1, updated_at = now()
       where p.subscription = p_name
         and p.event_id = any (array(
               select q.event_id from outbox_parked q
                where q.subscription = p_name and q.state = 'retrying' and q.available_at <= now()
                order by q.available_at
                limit p_limit))
      returning p.event_id, p.attempts)
    select e.id, e.aggregate_type, e.aggregate_id, e.event_type, e.payload, e.created_at,
           s.event_types is null or e.event_type = any (s.event_types), false, due.attempts
      from due join outbox e on e.id = due.event_id
     order by e.id;
end;
$$;

-- Records the outcome of parked events' retries. p_results: [{ event_id, ok, dead, last_error,
-- retry_after_ms }]. A delivered event leaves outbox_parked, a dead one stays (for an operator);
-- either way the next event of its aggregate waiting here becomes due. A failed one waits for
-- its backoff. Returns when the earliest parked retry is due.
create function outbox_settle_parked(p_name text, p_token bigint, p_results jsonb,
                                     base_ms float8, max_ms float8)
returns timestamptz
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform outbox_check_lease(p_name, p_token);
  -- Each by key (= any of the ids given): the cost follows the results, never the parked count.
  update outbox_parked p
     set state = case when r.dead then 'dead' else 'retrying' end,
         available_at = case when r.dead then p.available_at
                             else outbox_retry_at(p.attempts, base_ms, max_ms, r.retry_after_ms) end,
         last_error = r.last_error,
         updated_at = now()
    from jsonb_to_recordset(p_results)
           as r(event_id bigint, ok boolean, dead boolean, last_error text, retry_after_ms float8)
   where p.subscription = p_name
     and p.event_id = any (array(select (x ->> 'event_id')::bigint
                                   from jsonb_array_elements(p_results) x
                                  where not (x ->> 'ok')::boolean))
     and p.event_id = r.event_id and not r.ok;
  delete from outbox_parked p
   where p.subscription = p_name
     and p.event_id = any (array(select (x ->> 'event_id')::bigint
                                   from jsonb_array_elements(p_results) x
                                  where (x ->> 'ok')::boolean));
  perform outbox_promote_waiting(p_name,
    array(select (x ->> 'event_id')::bigint from jsonb_array_elements(p_results) x
           where (x ->> 'ok')::boolean or (x ->> 'dead')::boolean));
  return outbox_next_retry_at(p_name);
end;
$$;

-- Makes due the next waiting event of each aggregate whose parked event was just resolved. Driven
-- by the resolved ids: one primary-key probe of the log and one index probe of the parked events
-- each (the first waiting event of that aggregate), whatever the statistics say.
create function outbox_promote_waiting(p_name text, resolved bigint[]) returns void
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  update outbox_parked p
     set available_at = now(), updated_at = now()
   where p.subscription = p_name
     and p.available_at = 'infinity'
     and p.event_id = any (array(
           select (select w.event_id from outbox_parked w
                    where w.subscription = p_name and w.state = 'retrying'
                      and w.aggregate_type = e.aggregate_type
                      and w.aggregate_id = e.aggregate_id
                    order by w.event_id
                    limit 1)
             from outbox e
            where e.id = any (resolved)))
$$;

-- 5. Leases and back-off ------------------------------------------------------------------------

-- Takes the subscription's lease when nobody holds it or the holder's ran out; returns the new
-- fencing token, or nothing. Taking over a lease that ran out counts a try of the events at the
-- position: its holder may have died delivering them.
create function outbox_acquire(p_name text, p_holder text, p_lease_ms int) returns bigint
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  update outbox_subscriptions
     set lease_token = lease_token + 1,
         attempts = attempts + case when lease_holder is null then 0 else 1 end,
         lease_holder = p_holder,
         lease_until = now() + p_lease_ms * interval '1 millisecond',
         updated_at = now()
   where name = p_name and (lease_holder is null or lease_until < now())
  returning lease_token
$$;

-- Extends the lease; false when it is no longer ours.
create function outbox_renew(p_name text, p_token bigint, p_lease_ms int) returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  with renewed as (
    update outbox_subscriptions
       set lease_until = now() + p_lease_ms * interval '1 millisecond'
     where name = p_name and lease_token = p_token
    returning 1)
  select exists (select 1 from renewed)
$$;

-- Gives the lease back (a clean stop): the next holder takes over at once and counts no try.
create function outbox_release(p_name text, p_token bigint) returns void
language sql
set search_path = pg_catalog, public, pg_temp
as $$
  update outbox_subscriptions
     set lease_holder = null, lease_until = null, updated_at = now()
   where name = p_name and lease_token = p_token
$$;

-- Every call of the last try failed: the whole subscription waits (backoff with jitter on its
-- consecutive failures) and the next try of the same events is counted now. Returns until when.
create function outbox_back_off(p_name text, p_token bigint, p_error text, base_ms float8,
                                max_ms float8)
returns timestamptz
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  until timestamptz;
begin
  perform outbox_check_lease(p_name, p_token);
  update outbox_subscriptions
     set failures = failures + 1,
         attempts = attempts + 1,
         state = case when state = 'paused' then state else 'backing_off' end,
         backoff_until = outbox_retry_at(failures + 1, base_ms, max_ms, null),
         last_error = p_error,
         updated_at = now()
   where name = p_name
  returning backoff_until into until;
  return until;
end;
$$;

-- 6. What happened to event N -------------------------------------------------------------------

-- One row per event and subscription that owes (or owed) it: pending (not reached yet, or waiting
-- behind a parked event of its aggregate), done, retrying or dead.
create view outbox_delivery as
select e.id as event_id,
       s.name as subscription,
       case when p.state = 'dead' then 'dead'
            when p.event_id is not null and p.attempts > 0 then 'retrying'
            when p.event_id is not null then 'pending'
            when pg_visible_in_snapshot(e.xid, s.snapshot)
              or (pg_visible_in_snapshot(e.xid, s.batch_snapshot) and e.id <= s.batch_cursor)
              then 'done'
            else 'pending' end as state,
       p.attempts,
       p.last_error,
       case when p.state = 'retrying' and p.available_at < 'infinity' then p.available_at end
         as next_attempt_at
  from outbox e
  join outbox_subscriptions s on true
  left join outbox_parked p on p.subscription = s.name and p.event_id = e.id
 where p.event_id is not null
    or ((s.event_types is null or e.event_type = any (s.event_types))
        and not pg_visible_in_snapshot(e.xid, s.origin));

-- How far behind a subscription is: when the oldest event after its position was written, and
-- how many events follow its position (counted up to `cap`: a gauge must stay cheap however long
-- the backlog). Events of every type count; the subscription may not take them all.
create function outbox_subscription_backlog(s outbox_subscriptions, cap int,
                                            out oldest timestamptz, out behind bigint)
language sql stable
set search_path = pg_catalog, public, pg_temp
as $$
  with after_position as (
    -- What is left of the open batch.
    select e.created_at from outbox_batch_events(s.snapshot, s.batch_snapshot, s.batch_cursor,
                                                 s.batch_low, s.batch_high, cap) e
     where s.batch_snapshot is not null
    union all
    -- Later than the open batch (or the position): transactions running when it was taken...
    select o.created_at from outbox o
     where o.xid = any (array(select pg_snapshot_xip(coalesce(s.batch_snapshot, s.snapshot))))
    union all
    -- ...and those that began after it.
    (select o.created_at from outbox o
      where o.xid >= pg_snapshot_xmax(coalesce(s.batch_snapshot, s.snapshot))
      order by o.xid, o.id
      limit cap))
  select min(created_at), least(count(*), cap) from after_position
$$;

-- 7. From the per-event status of the previous outbox --------------------------------------------

-- The built-in subscription, and one per handler the old per-event delivery state names (the
-- sinks and handlers in use); the service sets each one's kind and event types when it starts.
-- Their position is here (every event before this migration is visible to it), their origin the
-- beginning: the events before were theirs, done unless parked below.
insert into outbox_subscriptions (name, kind, event_types, origin, snapshot)
values ('notify-client', 'sql', '{order.status_changed}', '1:1:', pg_current_snapshot());

insert into outbox_subscriptions (name, kind, event_types, origin, snapshot)
select h.name, 'external',
       case when h.name = 'email' then '{order.status_changed}'::text[] end,
       '1:1:', pg_current_snapshot()
  from (select distinct jsonb_object_keys(deliveries) as name from outbox) h
 where h.name <> 'notify-client';

-- Every event not done is still owed to each subscription that takes its type and did not deliver
-- it: parked, with the tries it had; a dead event stays dead for the handlers that had not
-- succeeded. Within an aggregate only the oldest one is due; the later ones wait behind it.
insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state, attempts,
                           available_at, last_error)
select s.name, o.id, o.aggregate_type, o.aggregate_id,
       case when o.status = 'dead' then 'dead' else 'retrying' end,
       coalesce((o.deliveries -> s.name ->> 'attempts')::int, 0),
       case when o.status = 'pending' then greatest(o.available_at, now()) else now() end,
       coalesce(o.deliveries -> s.name ->> 'error', o.last_error)
  from outbox o
  join outbox_subscriptions s on s.event_types is null or o.event_type = any (s.event_types)
 where o.status <> 'done'
   and coalesce(o.deliveries -> s.name ->> 'status', '') <> 'done';

update outbox_parked p
   set available_at = 'infinity'
 where p.state = 'retrying'
   and exists (select 1 from outbox_parked q
                where q.subscription = p.subscription and q.state = 'retrying'
                  and q.aggregate_type = p.aggregate_type and q.aggregate_id = p.aggregate_id
                  and q.event_id < p.event_id);

-- The per-event status goes, with its indexes and the functions of the claim.
drop function outbox_lock_claimable(int);
drop function outbox_run_batch(text, int, text);
drop index outbox_by_aggregate;
alter table outbox
  drop column status,
  drop column attempts,
  drop column available_at,
  drop column locked_until,
  drop column locked_by,
  drop column processed_at,
  drop column last_error,
  drop column deliveries;
