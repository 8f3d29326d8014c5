// (c) latency: commit -> handled at a steady rate of single-row UPDATEs.
import type pg from 'pg';
import {
  FLIP_STATUS,
  drainRate,
  handledLatencies,
  lastOutboxId,
  randomOrderId,
} from '../lib/bench-db';

/**
 * Sends `rate` UPDATEs per second for `seconds` (open loop: each starts at its slot whatever the
 * others do), waits until all are handled, and returns processed_at - created_at of each event
 * in ms. created_at is clock_timestamp() in the trigger (just before the writer's commit);
 * processed_at is now() of the transaction that handles and settles the event.
 */
export async function updateLatencies(
  pool: pg.Pool,
  rate: number,
  seconds: number,
): Promise<number[]> {
  const before = await lastOutboxId(pool);
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(pool.query({ ...FLIP_STATUS, values: [randomOrderId()] }));
  }
  await Promise.all(inFlight);
  const to = await lastOutboxId(pool);
  await drainRate(pool, { from: String(BigInt(before) + 1n), to }, 60_000);
  return handledLatencies(pool, before);
}
