import type pg from 'pg';
import { waitFor } from './wait';

type Db = Pick<pg.Pool, 'query'>;

/** One row of the view outbox_delivery. */
export interface DeliveryRow {
  event_id: string;
  subscription: string;
  state: 'pending' | 'done' | 'retrying' | 'dead';
  attempts: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
}

/** An event's state in one subscription (undefined: that subscription does not owe it). */
export async function deliveryOf(
  pool: Db,
  eventId: string,
  subscription: string,
): Promise<DeliveryRow | undefined> {
  const { rows } = await pool.query<DeliveryRow>(
    `select * from outbox_delivery where event_id = $1 and subscription = $2`,
    [eventId, subscription],
  );
  return rows[0];
}

/** Counts of deliveries by state, for the given subscriptions. */
export async function deliveryCounts(
  pool: Db,
  subscriptions: readonly string[],
): Promise<Record<DeliveryRow['state'], number>> {
  const { rows } = await pool.query<{ state: DeliveryRow['state']; n: string }>(
    `select state, count(*) as n from outbox_delivery
      where subscription = any ($1::text[]) group by state`,
    [subscriptions],
  );
  const counts = { pending: 0, done: 0, retrying: 0, dead: 0 };
  for (const r of rows) counts[r.state] = Number(r.n);
  return counts;
}

/**
 * Waits until the subscriptions owe nothing more: no delivery pending or retrying (dead ones are
 * settled too). Only the named ones: a subscription no running instance serves (the built-in
 * notify-client, when a test runs handlers of its own) lags for ever, by design.
 */
export async function waitUntilDelivered(
  pool: Db,
  subscriptions: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    `${subscriptions.join(', ')} to deliver everything`,
    async () => {
      const c = await deliveryCounts(pool, subscriptions);
      return c.pending + c.retrying === 0;
    },
    { timeoutMs },
  );
}

/** The row of a subscription. */
export async function subscriptionRow(pool: Db, name: string) {
  const { rows } = await pool.query(`select * from outbox_subscriptions where name = $1`, [name]);
  return rows[0];
}

/** The parked events of a subscription, in event order. */
export async function parkedIn(pool: Db, subscription: string) {
  const { rows } = await pool.query(
    `select * from outbox_parked where subscription = $1 order by event_id`,
    [subscription],
  );
  return rows;
}
