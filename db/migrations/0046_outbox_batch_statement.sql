-- outbox_run_batch(): runs the dispatcher's one-statement batch (src/outbox/sql/one-statement.ts)
-- with sequential and bitmap scans, hash and merge joins disabled for its plan, with the caller's
-- rights. $1 of the statement is the batch limit, $2 the delivery timestamp.
-- Why: docs/history.md, 0046.
create function outbox_run_batch(batch_statement text, batch_limit int, delivered_at text)
returns table (
  id bigint,
  aggregate_type text,
  aggregate_id text,
  event_type text,
  payload jsonb,
  created_at timestamptz,
  attempts int,
  previous_deliveries jsonb
)
language plpgsql volatile
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
begin
  return query execute batch_statement using batch_limit, delivered_at;
end;
$$;
