-- Autovacuum of the outbox after every 5,000 dead (or inserted) rows, without cost-based pauses,
-- instead of after 20 % of the table. Why: docs/history.md, 0042.
alter table outbox set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 5000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 5000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
