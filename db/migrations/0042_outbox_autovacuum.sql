-- The outbox is a queue: every event is inserted, then updated once or twice, so its partial
-- indexes (outbox_open, outbox_open_by_aggregate) fill with entries of row versions that are no
-- longer open. The claim walks outbox_open from its start, so those dead entries are work on every
-- claim until vacuum removes them. PostgreSQL's default waits for 20 % of the table to be dead;
-- vacuum this table after a fixed number of dead rows instead, without cost-based pauses.
alter table outbox set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 5000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 5000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
