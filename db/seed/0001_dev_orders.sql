-- Development and test data only: never applied by the service against a DATABASE_URL it was given.
-- Idempotent: rows carry fixed ids and existing ones are left alone.

insert into clients (id, name, email) values
  (1, 'Ada Lovelace', 'ada@example.com'),
  (2, 'Alan Turing', 'alan@example.com'),
  (3, 'Grace Hopper', 'grace@example.com'),
  (4, 'Edsger Dijkstra', 'edsger@example.com'),
  (5, 'Barbara Liskov', 'barbara@example.com')
on conflict (id) do nothing;

insert into items (id, sku, name, price_cents) values
  (1, 'KB-01', 'Mechanical keyboard', 12900),
  (2, 'MS-01', 'Wireless mouse', 3900),
  (3, 'MN-27', '27" monitor', 32900),
  (4, 'HD-01', 'USB-C hub', 4900),
  (5, 'CB-02', 'USB-C cable, 2 m', 1500),
  (6, 'LP-14', 'Laptop stand', 5900),
  (7, 'HS-01', 'Headset', 8900),
  (8, 'WC-01', 'Webcam', 7900),
  (9, 'DK-01', 'Desk lamp', 4500),
  (10, 'NB-A5', 'Notebook, A5', 900)
on conflict (id) do nothing;

insert into orders (id, client_id, status) values
  (1, 1, 'paid'),
  (2, 2, 'shipped'),
  (3, 2, 'pending'),
  (4, 2, 'delivered'),
  (5, 3, 'packed'),
  (6, 3, 'paid'),
  (7, 4, 'pending'),
  (8, 4, 'cancelled'),
  (9, 5, 'shipped'),
  (10, 5, 'paid'),
  (11, 1, 'pending'),
  (12, 2, 'paid')
on conflict (id) do nothing;

insert into order_items (order_id, item_id, quantity) values
  (1, 1, 1), (1, 2, 1),
  (2, 3, 2), (2, 5, 3),
  (3, 4, 1),
  (4, 6, 1), (4, 7, 1), (4, 10, 5),
  (5, 8, 1),
  (6, 9, 2), (6, 5, 1),
  (7, 2, 2),
  (8, 1, 1),
  (9, 3, 1), (9, 4, 1),
  (10, 7, 1),
  (11, 10, 10),
  (12, 8, 1), (12, 9, 1)
on conflict (order_id, item_id) do nothing;

-- The rows above carry explicit ids: move the identity sequences past them.
select setval(pg_get_serial_sequence('clients', 'id'), (select max(id) from clients));
select setval(pg_get_serial_sequence('items', 'id'), (select max(id) from items));
select setval(pg_get_serial_sequence('orders', 'id'), (select max(id) from orders));
