import { z } from 'zod';

export const ORDER_STATUSES = [
  'pending',
  'paid',
  'packed',
  'shipped',
  'delivered',
  'cancelled',
] as const;
export const orderStatusSchema = z.enum(ORDER_STATUSES);
export type OrderStatus = z.infer<typeof orderStatusSchema>;

/** ids are PostgreSQL `int`: a positive 32-bit integer. */
export const orderIdSchema = z.number().int().positive().max(2_147_483_647);

export const updateOrderStatusBody = z.strictObject({
  id: orderIdSchema,
  status: orderStatusSchema,
});
export type UpdateOrderStatusBody = z.infer<typeof updateOrderStatusBody>;

export const orderIdParams = z.strictObject({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, 'must be a positive integer')
    .transform(Number)
    .pipe(orderIdSchema),
});

export interface Order {
  id: number;
  clientId: number;
  status: OrderStatus;
  createdAt: Date;
  updatedAt: Date;
}

export interface OrderDetails extends Order {
  client: { id: number; name: string; email: string };
  /** price: items.price, numeric(10,2), as PostgreSQL's JSON writes it (a JSON number). */
  items: {
    itemId: number;
    sku: string;
    name: string;
    description: string | null;
    quantity: number;
    price: number;
  }[];
  /** The sum of quantity × price, computed in SQL (exact decimal arithmetic), as a JSON number. */
  total: number;
}
