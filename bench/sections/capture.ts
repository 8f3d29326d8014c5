// (a) capture cost: UPDATE orders TPS with our triggers vs. the same UPDATE with them disabled,
// at 1 and 32 writers, while the service runs and drains.
import type pg from 'pg';
import { FLIP_STATUS, lastOutboxId, randomOrderId, rangeSince, waitDrained } from '../lib/bench-db';

const CAPTURE_TRIGGERS = ['_500_orders_capture_status_changed', '_500_orders_capture_created'];

export async function setCapture(pool: pg.Pool, on: boolean): Promise<void> {
  for (const trigger of CAPTURE_TRIGGERS) {
    await pool.query(`alter table orders ${on ? 'enable' : 'disable'} trigger ${trigger}`);
  }
}

/** Committed UPDATEs per second over `seconds`, each writer on its own connection in a loop. */
export async function writeTps(pool: pg.Pool, writers: number, seconds: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
  let done = 0;
  const started = performance.now();
  const endsAt = started + seconds * 1000;
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < endsAt) {
          await client.query({ ...FLIP_STATUS, values: [randomOrderId()] });
          done++;
        }
      }),
    );
  } finally {
    for (const c of clients) c.release();
  }
  return (done * 1000) / (performance.now() - started);
}

/** Exactly `count` UPDATEs by `writers` connections in a loop (as writeTps); returns tx/s. */
export async function writeCount(pool: pg.Pool, writers: number, count: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
  let issued = 0;
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (issued < count) {
          issued++;
          await client.query({ ...FLIP_STATUS, values: [randomOrderId()] });
        }
      }),
    );
  } finally {
    for (const c of clients) c.release();
  }
  return (count * 1000) / (performance.now() - started);
}

/**
 * One capture run: TPS of `writers` with capture on, then waits until the service has handled
 * every event of the run (notify-client owes nothing of it), and returns the TPS and how long the drain took after.
 */
export async function captureRun(
  pool: pg.Pool,
  writers: number,
  seconds: number,
): Promise<{ tps: number; catchUpMs: number }> {
  const before = await lastOutboxId(pool);
  const tps = await writeTps(pool, writers, seconds);
  const stoppedAt = performance.now();
  const range = await rangeSince(pool, before);
  if (range) await waitDrained(pool, range, 120_000);
  return { tps, catchUpMs: performance.now() - stoppedAt };
}
