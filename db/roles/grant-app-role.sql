-- What the service needs, and nothing more. Run as the schema owner after the migrations, and again
-- after any migration that adds a table the service uses (every statement here is idempotent):
--
--   psql "$OWNER_DATABASE_URL" -v app_role=outbox_app -f db/roles/grant-app-role.sql
--
-- Not granted, on purpose: ownership (ALTER/DROP TABLE, DROP TRIGGER, ALTER TABLE ... DISABLE
-- TRIGGER all need it), TRUNCATE, TRIGGER, REFERENCES, and CREATE on the schema. Setting
-- session_replication_role (which would skip triggers) needs a superuser.
-- On PostgreSQL 14 or older, PUBLIC may create in schema public; revoke that first:
--   revoke create on schema public from public;

-- CONNECT on the database comes from PUBLIC by default; grant it too if you revoked that.
grant usage on schema public to :"app_role";

-- Read by the API (GET /orders/:id) and the notify-client handler.
grant select on clients, items, order_items to :"app_role";
-- PATCH /orders/update changes the status; the trigger it fires runs as this role.
grant select, update on orders to :"app_role";
-- The capture trigger (and an admin replay) appends; retention deletes what every subscription has
-- passed. No UPDATE: the log is append-only, and this role cannot rewrite an event.
grant select, insert, delete on outbox to :"app_role";
revoke update on outbox from :"app_role";
grant usage on sequence outbox_id_seq to :"app_role";
-- Subscriptions: the service declares its own (insert, update of kind and types) and moves their
-- positions and leases; parked events come and go; the delivery view is read by the admin API.
grant select, insert, update on outbox_subscriptions to :"app_role";
grant select, insert, update, delete on outbox_parked to :"app_role";
grant select on outbox_delivery to :"app_role";
-- The notify-client handler writes one row per event; a mail sink marks it sent.
grant select, insert, update on notifications to :"app_role";
grant usage on sequence notifications_id_seq to :"app_role";
-- Readiness and start-up compare the applied migrations with the code's.
grant select on schema_migrations to :"app_role";
-- The wake-up gate (0040): each dispatcher registers, flips and removes its own row.
grant select, insert, update, delete on outbox_dispatchers to :"app_role";
