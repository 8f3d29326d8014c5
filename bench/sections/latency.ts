// (c) latency: commit -> handled at a steady rate of single-row UPDATEs.
import type pg from 'pg';
import {
  FLIP_STATUS,
  handledLatencies,
  lastOutboxId,
  randomOrderId,
  rangeSince,
  waitDrained,
} from '../lib/bench-db';

/**
 * Sends `rate` UPDATEs per second for `seconds` (open loop: each starts at its slot whatever the
 * others do), waits until notify-client owes none of their events, and returns commit -> handled
 * of each event in ms (bench/lib/bench-db.ts, handledLatencies).
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
  const range = await rangeSince(pool, before);
  if (!range) return [];
  await waitDrained(pool, range, 60_000);
  return handledLatencies(pool, range);
}
