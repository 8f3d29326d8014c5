-- Captures a second table with the generic function of 0003: how a user captures their own.
-- One statement. `after update of price_cents` plus the WHEN clause are the column filter: a
-- change of name or sku (or an UPDATE that sets the same price) writes no event. The payload is
-- { op: 'update', table: 'items', new: <item row>, old: { price_cents, updated_at } }.
-- 0047 recreates it on price, the decimal column that replaces price_cents.
create trigger _500_items_capture_price_changed
  after update of price_cents on items
  for each row when (old.price_cents is distinct from new.price_cents)
  execute function tg_outbox__capture('item', 'item.price_changed');
