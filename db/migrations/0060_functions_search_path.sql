-- Every function of the schema resolves names the same way whoever calls it, whatever their
-- search_path: a writer's session with a temporary table named outbox, or a schema earlier in its
-- path holding a function or operator of the same name, must not change what a trigger writes or
-- what the dispatcher's functions read. test/integration/db.search-path.test.ts holds every
-- function of schema public, present or added later, to this.
--
-- Two ways, chosen by how a function is called:
--
-- * PL/pgSQL functions (the triggers) get
--   search_path = pg_catalog, public, pg_temp: pg_temp named last, because a path that leaves it
--   out searches it first for tables. The SET costs a save and a restore of the setting per call:
--   3.3 µs on the 2-core development machine (1,000,000 calls of an empty PL/pgSQL function,
--   4.1 s pinned against 0.85 s). The capture trigger and the updated_at trigger run once per
--   written row, each UPDATE of an order costing about 280 µs there: 20,000 single-row UPDATEs in
--   one transaction took a median 5.67 s unpinned, 5.87 s with the capture trigger pinned and
--   5.91 s with both (8 interleaved runs; +4%, inside the runs' own spread of ±30%).
--
-- * SQL functions called inside the batch statement, once per event (order_status_message, and
--   the html_escape it calls four times), keep no SET: PostgreSQL never inlines an SQL function
--   that has one, and each call then runs as a function of its own with a setting switch. 20,000
--   messages took 4.9 s with a SET on both, 0.70 s without. They get SQL-standard bodies instead
--   (RETURN / BEGIN ATOMIC), which PostgreSQL parses when the function is created and stores with
--   every name already resolved: no search_path is consulted when they run, and html_escape is
--   inlined as before (20,000 messages: 0.71 s).
--   The numbers: docs/performance.md, "search_path".

-- The capture trigger of 0040 with its tables schema-qualified; otherwise the same.
-- Note for whoever redefines it later: keep public.outbox and public.outbox_dispatchers qualified
-- and the SET below (the test checks both).
create or replace function tg_outbox__capture() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
  key_column text := coalesce(tg_argv[2], 'id');
  new_row jsonb := case when tg_op = 'DELETE' then null else to_jsonb(new) end;
  old_row jsonb := case when tg_op = 'INSERT' then null else to_jsonb(old) end;
  changed jsonb;
begin
  if tg_op = 'UPDATE' then
    select coalesce(jsonb_object_agg(o.key, o.value), '{}') into changed
      from jsonb_each(old_row) o
     where o.value is distinct from new_row -> o.key;
  end if;

  insert into public.outbox (aggregate_type, aggregate_id, event_type, payload)
  values (
    tg_argv[0],
    coalesce(new_row, old_row) ->> key_column,
    tg_argv[1],
    jsonb_build_object('op', lower(tg_op), 'table', tg_table_name, 'new', new_row, 'old',
      case when tg_op = 'DELETE' then old_row else changed end)
  );

  -- Ring only when nobody is awake to see the row anyway. statement_timestamp(), not now():
  -- a long transaction must not see an expired flag as still valid.
  if not exists (select 1 from public.outbox_dispatchers
                  where awake_until > statement_timestamp()) then
    -- An empty payload: the table is the truth, and identical notifications in one
    -- transaction are folded into one by PostgreSQL.
    perform pg_notify('outbox', '');
  end if;
  return null;
end;
$$;

alter function tg__touch_updated_at() set search_path = pg_catalog, public, pg_temp;
-- The functions of the event log (0050) pin their own.

-- 0045's two functions, bodies unchanged, as SQL-standard bodies (see above).
create or replace function html_escape(t text) returns text
language sql immutable parallel safe
return replace(replace(replace(replace(replace(t,
         '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');

-- order_status_message() returns a one-row table rather than a record: a set-returning SQL
-- function in FROM is inlined into the statement that calls it (the built-in subscription's
-- effect), a record-returning one is not and runs as a call per row: 20,000 messages in 0.10 s
-- against 0.55 s (PostgreSQL 15, this machine).
drop function order_status_message(jsonb);
create function order_status_message(payload jsonb)
returns table (subject text, body text, html text)
language sql immutable parallel safe
begin atomic
  select format('Your order #%s is now %s', n ->> 'id', n ->> 'status'),
         format(E'Hello,\n\nyour order #%s went from %s to %s at %s.\n',
                n ->> 'id', payload #>> '{old,status}', n ->> 'status', n ->> 'updated_at'),
         format(E'<p>Hello,</p>\n<p>your order <strong>#%s</strong> went from %s to '
                '<strong>%s</strong> at %s.</p>\n',
                html_escape(n ->> 'id'), html_escape(payload #>> '{old,status}'),
                html_escape(n ->> 'status'), html_escape(n ->> 'updated_at'))
    from (select payload -> 'new' as n) p;
end;

-- Functions that migrations numbered below this one (written in parallel with it) may have added:
-- PL/pgSQL and other procedural ones are pinned like the ones above. SQL functions are left for
-- their author to decide (a SET stops inlining; see above), and the test names them until then.
-- Functions of extensions are theirs, not ours.
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure
      from pg_proc p
      join pg_language l on l.oid = p.prolang
     where p.pronamespace = 'public'::regnamespace
       and p.prokind in ('f', 'p')
       and l.lanname <> 'sql'
       and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%')
       and not exists (select 1 from pg_depend d
                        where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                          and d.deptype = 'e')
  loop
    execute format('alter routine %s set search_path = pg_catalog, public, pg_temp', f);
  end loop;
end;
$$;
