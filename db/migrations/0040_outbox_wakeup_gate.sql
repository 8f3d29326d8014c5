-- The wake-up gate: writers ring the NOTIFY doorbell only when no dispatcher is awake.
--
-- Why: every transaction that calls pg_notify takes one database-wide lock at commit
-- (PostgreSQL async.c, PreCommit_Notify), so 32 writers queue behind each other: an UPDATE of
-- orders fell from ~3,900 to ~1,100 TPS with the seed's trigger on our 2-core machine. A dispatcher
-- that is already awake claims the new row at its next claim anyway; ringing it is wasted, and
-- under load the dispatcher is awake nearly all the time.
--
-- outbox_dispatchers has one row per running dispatcher (process). awake_until in the future means
-- "awake: I will claim again soon"; null means idle (sleeping until a NOTIFY or the fallback poll).
-- The dispatcher renews awake_until while it works, so a dispatcher that dies awake stops
-- suppressing notifications when it expires (seconds), and the other dispatchers' fallback poll
-- covers the gap meanwhile. Writers only read this table: no row lock, no write on their side.
--
-- The race that remains (a writer reads "awake" just before the dispatcher goes idle and commits
-- without ringing) is closed by the dispatcher: after going idle it claims once more at once and
-- again after a short linger; anything later still waits at most the fallback poll.
-- See src/outbox/wake-gate.ts and docs/performance.md.
--
-- Unlogged: the flags are soft state, not worth a WAL record per flip; after a crash the table is
-- empty, which means "nobody awake": writers notify, as they did before this migration.
create unlogged table outbox_dispatchers (
  worker_id text primary key,
  awake_until timestamptz,
  -- For operators: which backend and when this dispatcher last said anything.
  backend_pid int not null default pg_backend_pid(),
  updated_at timestamptz not null default now()
);

-- Same capture as 0003; only the wake-up at the end changed.
create or replace function tg_outbox__capture() returns trigger
language plpgsql as $$
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

  insert into outbox (aggregate_type, aggregate_id, event_type, payload)
  values (
    tg_argv[0],
    coalesce(new_row, old_row) ->> key_column,
    tg_argv[1],
    jsonb_build_object('op', lower(tg_op), 'table', tg_table_name, 'new', new_row, 'old',
      case when tg_op = 'DELETE' then old_row else changed end)
  );

  -- Ring only when nobody is awake to see the row anyway. statement_timestamp(), not now():
  -- a long transaction must not see an expired flag as still valid.
  if not exists (select 1 from outbox_dispatchers where awake_until > statement_timestamp()) then
    -- An empty payload: the table is the truth, and identical notifications in one
    -- transaction are folded into one by PostgreSQL.
    perform pg_notify('outbox', '');
  end if;
  return null;
end;
$$;
