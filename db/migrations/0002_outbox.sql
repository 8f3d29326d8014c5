-- The outbox is the source of truth for events; NOTIFY is only a wake-up call.

create table outbox (
  id bigint generated always as identity primary key,
  aggregate_type text not null,
  aggregate_id text not null,
  event_type text not null,
  payload jsonb not null,
  created_at timestamptz not null default clock_timestamp(),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'done', 'dead')),
  attempts int not null default 0,
  available_at timestamptz not null default now(),
  locked_until timestamptz,
  locked_by text,
  processed_at timestamptz,
  last_error text,
  -- Per-handler delivery state, so one failing handler is retried alone:
  -- { "<handler>": { "status": "done" | "failed" | "dead", "attempts": n, "error": "...", "at": "..." } }
  deliveries jsonb not null default '{}'
);

-- Serves the claim: only open rows are indexed, so its cost does not grow with the done ones.
create index outbox_open on outbox (id) where status in ('pending', 'processing');

-- Serves the per-aggregate ordering check ("is an earlier event of this aggregate still open?").
create index outbox_open_by_aggregate on outbox (aggregate_type, aggregate_id, id)
  where status in ('pending', 'processing');

-- For operators: dead rows, and browsing one aggregate's history.
create index outbox_dead on outbox (id) where status = 'dead';
create index outbox_by_aggregate on outbox (aggregate_type, aggregate_id, id);

-- What the built-in handler produces for the client of an order whose status changed.
create table notifications (
  id bigint generated always as identity primary key,
  event_id bigint not null unique,
  client_id int not null,
  order_id int not null,
  channel text not null default 'email',
  subject text not null,
  body text not null,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
create index notifications_order_id on notifications (order_id);
