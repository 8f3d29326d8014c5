-- A migration of yours, e.g. db/migrations/0100_capture_client_email.sql.
-- One statement captures a table: an event client.email_changed whenever a client's e-mail
-- address really changes, written by the same generic trigger function as the orders'.
create trigger _500_clients_capture_email_changed
  after update of email on clients
  for each row when (old.email is distinct from new.email)
  execute function tg_outbox__capture('client', 'client.email_changed');

-- Where the SQL handler below writes (your own table).
create table client_email_history (
  event_id bigint primary key,
  client_id int not null,
  old_email text not null,
  new_email text not null,
  changed_at timestamptz not null
);
