-- Items get a description and a decimal price, as the article's seed query reads them:
-- price_cents (int) becomes price numeric(10,2) = price_cents / 100.0, in place (a rewrite: no
-- UPDATE, so updated_at and the capture are untouched), and the price capture of 0020 is
-- recreated on price (a trigger on a column must go before that column's type changes).
drop trigger _500_items_capture_price_changed on items;

alter table items drop constraint items_price_cents_check;
alter table items alter column price_cents type numeric(10,2) using price_cents / 100.0;
alter table items rename column price_cents to price;
alter table items add constraint items_price_check check (price >= 0);
alter table items add column description text;

create trigger _500_items_capture_price_changed
  after update of price on items
  for each row when (old.price is distinct from new.price)
  execute function tg_outbox__capture('item', 'item.price_changed');
