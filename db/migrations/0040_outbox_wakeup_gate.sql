-- The wake-up gate: the capture trigger rings NOTIFY only when no dispatcher is awake.
-- outbox_dispatchers: one row per dispatcher; awake_until in the future = awake, null = idle.
-- Unlogged: after a crash it is empty, and writers notify. Why: docs/history.md, 0040.
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
