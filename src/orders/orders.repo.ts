import type pg from 'pg';
import type { Order, OrderDetails, OrderStatus } from './orders.schema';

type Queryable = Pick<pg.Pool, 'query'>;

interface OrderRow {
  id: number;
  client_id: number;
  status: OrderStatus;
  created_at: Date;
  updated_at: Date;
}

const toOrder = (r: OrderRow): Order => ({
  id: r.id,
  clientId: r.client_id,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Sets the status. The capture trigger fires only when the status really changes, so writing the
 * same status again produces no event. Returns undefined when the order does not exist.
 */
export async function updateOrderStatus(
  db: Queryable,
  id: number,
  status: OrderStatus,
): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>({
    name: 'orders.update_status',
    text: `update orders set status = $2 where id = $1
           returning id, client_id, status, created_at, updated_at`,
    values: [id, status],
  });
  return rows[0] && toOrder(rows[0]);
}

export async function findOrderDetails(
  db: Queryable,
  id: number,
): Promise<OrderDetails | undefined> {
  const { rows } = await db.query<
    OrderRow & {
      client: OrderDetails['client'];
      items: OrderDetails['items'];
      total: OrderDetails['total'];
    }
  >({
    name: 'orders.find_details',
    text: `select o.id, o.client_id, o.status, o.created_at, o.updated_at,
                  json_build_object('id', c.id, 'name', c.name, 'email', c.email) as client,
                  coalesce(l.items, '[]') as items,
                  to_json(coalesce(l.total, 0)) as total
             from orders o join clients c on c.id = o.client_id
             cross join lateral (
               select json_agg(json_build_object(
                        'itemId', i.id, 'sku', i.sku, 'name', i.name,
                        'description', i.description, 'quantity', oi.quantity, 'price', i.price)
                        order by i.id) as items,
                      sum(oi.quantity * i.price) as total
                 from order_items oi join items i on i.id = oi.item_id
                where oi.order_id = o.id) l
            where o.id = $1`,
    values: [id],
  });
  const row = rows[0];
  if (!row) return undefined;
  return {
    ...toOrder(row),
    client: row.client,
    items: row.items,
    total: row.total,
  };
}
