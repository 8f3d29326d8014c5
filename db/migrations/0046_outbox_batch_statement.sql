-- The one-statement batch (src/outbox/sql/one-statement.ts) runs through this function, so that its
-- plan cannot depend on the outbox's statistics, as the claim's cannot (0043, 0044).
--
-- Planned as an ordinary statement, the settle part (update outbox ... from the locked batch) was
-- a hash join over a sequential scan of the whole outbox whenever the statistics said the table
-- was small (a new database, not yet analyzed: reltuples 0, while it held 15,000-40,000 rows),
-- measured in the benchmark's capture sequence: every batch read every row, a drain of 7,000
-- events took 10-29 s, and the writers on the same two cores slowed down five-fold. With sequential
-- and bitmap scans, hash and merge joins disabled for its plan, the settle can only probe the
-- primary key once per locked row.
--
-- The statement is the dispatcher's own (built once from the handlers' effect SQL); it runs with
-- the caller's rights. $1 of the statement is the batch limit, $2 the delivery timestamp.
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
