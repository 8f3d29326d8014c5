-- Development and test data only: never applied by the service against a DATABASE_URL it was given.
-- Idempotent: rows carry fixed ids and existing ones are left alone (but see items).

insert into clients (id, name, email) values
  (1, 'Ada Lovelace', 'ada@example.com'),
  (2, 'Alan Turing', 'alan@example.com'),
  (3, 'Grace Hopper', 'grace@example.com'),
  (4, 'Edsger Dijkstra', 'edsger@example.com'),
  (5, 'Barbara Liskov', 'barbara@example.com')
on conflict (id) do nothing;

-- Items seeded before migration 0047 had no description: they get the seed's, nothing else changes.
insert into items (id, sku, name, price, description) values
  (1, 'KB-01', 'Mechanical keyboard', 129.00,
   'Tenkeyless, hot-swappable brown switches, USB-C cable'),
  (2, 'MS-01', 'Wireless mouse', 39.00,
   'Six buttons, 2.4 GHz receiver and Bluetooth, 70 days per charge'),
  (3, 'MN-27', '27" monitor', 329.00,
   '2560 x 1440 IPS panel, 75 Hz, height-adjustable stand'),
  (4, 'HD-01', 'USB-C hub', 49.00,
   'Two USB-A ports, HDMI 4K at 30 Hz, SD card reader, 100 W passthrough'),
  (5, 'CB-02', 'USB-C cable, 2 m', 15.00,
   'Braided, USB 2.0 data, charges at up to 60 W'),
  (6, 'LP-14', 'Laptop stand', 59.00,
   'Aluminium, folds flat, fits laptops from 11 to 16 inches'),
  (7, 'HS-01', 'Headset', 89.00,
   'Closed-back over-ear headphones with a detachable boom microphone'),
  (8, 'WC-01', 'Webcam', 79.00,
   '1080p at 30 fps, autofocus, privacy shutter'),
  (9, 'DK-01', 'Desk lamp', 45.00,
   'LED, dimmable, warm to cool white, USB powered'),
  (10, 'NB-A5', 'Notebook, A5', 9.00,
   '120 dotted pages, lay-flat binding')
on conflict (id) do update set description = excluded.description
  where items.description is null;

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
