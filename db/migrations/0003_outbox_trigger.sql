-- Generic capture: tg_outbox__capture(aggregate type, event type[, key column, default 'id'])
-- writes an outbox row for the change and rings the 'outbox' channel. Attached to another table
-- with one statement (0020 does it for items); the trigger's WHEN clause is the column filter.
-- Payload: { "op", "table", "new": <row>, "old": <old values of the columns that changed> }.
create function tg_outbox__capture() returns trigger
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

  -- An empty payload: the table is the truth, and identical notifications in one
  -- transaction are folded into one by PostgreSQL.
  perform pg_notify('outbox', '');
  return null;
end;
$$;

create trigger _500_orders_capture_created
  after insert on orders
  for each row
  execute function tg_outbox__capture('order', 'order.created');

create trigger _500_orders_capture_status_changed
  after update of status on orders
  for each row when (old.status is distinct from new.status)
  execute function tg_outbox__capture('order', 'order.status_changed');
