import { z } from 'zod';
import { orderStatusSchema } from '../orders/orders.schema';

/** A row as the capture trigger serialises it (to_jsonb). */
const orderRow = z.object({
  id: z.number().int(),
  client_id: z.number().int(),
  status: orderStatusSchema,
  created_at: z.string(),
  updated_at: z.string(),
});

/** items since migration 0047: to_jsonb writes price, numeric(10,2), as a JSON number (129.00). */
const itemRow = z.object({
  id: z.number().int(),
  sku: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  price: z.number().nonnegative(),
  created_at: z.string(),
  updated_at: z.string(),
});

/** items before migration 0047: their events stay in the outbox, and a replay copies them. */
const itemRowBefore0047 = z.object({
  id: z.number().int(),
  sku: z.string(),
  name: z.string(),
  price_cents: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});

/**
 * Payload schemas of the event types the service knows, as written by tg_outbox__capture().
 * A payload read back from the database is parsed before any handler runs; a mismatch is a
 * permanent failure (the event goes dead; retrying cannot fix its content).
 */
export const eventPayloadSchemas = {
  'order.created': z.object({
    op: z.literal('insert'),
    table: z.literal('orders'),
    new: orderRow,
  }),
  'order.status_changed': z.object({
    op: z.literal('update'),
    table: z.literal('orders'),
    new: orderRow,
    old: z.object({ status: orderStatusSchema }).loose(),
  }),
  /** db/migrations/0047_items_description_price.sql (0020 before it) */
  'item.price_changed': z.union([
    z.object({
      op: z.literal('update'),
      table: z.literal('items'),
      new: itemRow,
      old: z.object({ price: z.number().nonnegative() }).loose(),
    }),
    z.object({
      op: z.literal('update'),
      table: z.literal('items'),
      new: itemRowBefore0047,
      old: z.object({ price_cents: z.number().int() }).loose(),
    }),
  ]),
} as const;

export type KnownEventType = keyof typeof eventPayloadSchemas;
export type EventPayload<T extends KnownEventType> = z.infer<(typeof eventPayloadSchemas)[T]>;

export function isKnownEventType(type: string): type is KnownEventType {
  return Object.hasOwn(eventPayloadSchemas, type);
}

/** An event as handlers see it: its payload already validated for known types. */
export interface OutboxEvent<T extends string = string> {
  id: string;
  aggregateType: string;
  aggregateId: string;
  type: T;
  payload: T extends KnownEventType ? EventPayload<T> : unknown;
  createdAt: Date;
  attempt: number;
}
