-- Operations: retention and replay.

-- Retention deletes done rows by processed_at, and the admin stats count what was done in the last
-- minute. Without this index both would scan the whole table, whose size is mostly done rows.
-- Partial, so it holds done rows only; pending/processing rows never enter it, and the claim query
-- (served by outbox_open) does not see it.
create index outbox_done_processed_at on outbox (processed_at) where status = 'done';

-- A replay inserts a copy of a done event (a new id, hence a new idempotency key for the sinks);
-- replay_of points at the original so an operator can tell copies apart. Nullable with no default:
-- adding it rewrites nothing.
alter table outbox add column replay_of bigint;
