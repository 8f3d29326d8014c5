// (f) Fresh events with many deferred ones: commit -> handled at 100 UPDATEs/s while the built-in
// subscription holds D parked events whose retry is an hour away (as after an hour-long outage),
// against none. The deferred events are outbox rows on orders the load never touches (ids above
// the bench's orders), written with their outbox_parked rows in one transaction; the service then
// reads past them, and the runs start once notify-client's position is past every one of them.
// Runs alternate: the parked rows are deleted for a run without (the log stays the same), and
// parked again for a run with them, each time followed by a VACUUM ANALYZE of outbox_parked.
import type pg from 'pg';
import { readOutboxGauges } from '../../src/outbox/sql/stats';
import { BENCH_ORDERS, BUILT_IN, createBenchDatabase, type IdRange } from '../lib/bench-db';
import { SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startBenchService } from '../lib/processes';
import { atMost, percentile } from '../lib/stats';
import { updateLatencies } from './latency';

/** D order.status_changed events on orders above BENCH_ORDERS, parked for notify-client. */
async function insertDeferred(pool: pg.Pool, events: number): Promise<IdRange> {
  const { rows } = await pool.query<{ from: string; to: string }>(
    `with e as (
       insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       select 'order', (o.id)::text, 'order.status_changed',
              jsonb_build_object('op', 'update', 'table', 'orders',
                'new', jsonb_build_object('id', o.id, 'client_id', 1 + o.id % 100,
                                          'status', 'paid', 'created_at', now(),
                                          'updated_at', now()),
                'old', jsonb_build_object('status', 'pending'))
         from generate_series($2::int + 1, $2::int + $1::int) as o(id)
        order by o.id
       returning id, aggregate_type, aggregate_id),
     p as (
       insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state,
                                  attempts, available_at)
       select $3, e.id, e.aggregate_type, e.aggregate_id, 'retrying', 1, now() + interval '1 hour'
         from e)
     select min(id)::text as from, max(id)::text as to from e`,
    [events, BENCH_ORDERS, BUILT_IN],
  );
  return rows[0]!;
}

async function park(pool: pg.Pool, range: IdRange): Promise<void> {
  await pool.query(
    `insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state,
                                attempts, available_at)
     select $3, o.id, o.aggregate_type, o.aggregate_id, 'retrying', 1, now() + interval '1 hour'
       from outbox o where o.id between $1 and $2
     on conflict (subscription, event_id) do nothing`,
    [range.from, range.to, BUILT_IN],
  );
}

async function unpark(pool: pg.Pool, range: IdRange): Promise<void> {
  await pool.query(
    `delete from outbox_parked where subscription = $3 and event_id between $1 and $2`,
    [range.from, range.to, BUILT_IN],
  );
}

/** Waits until notify-client's position is past every event of the log. */
async function waitCaughtUp(pool: pg.Pool, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gauges = await readOutboxGauges(pool);
    if (gauges.subscriptions.find((s) => s.name === BUILT_IN)?.behind === 0) return;
    if (Date.now() > deadline) throw new Error(`${BUILT_IN} not past the deferred events`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function benchDeferred(ctx: BenchContext): Promise<void> {
  const { size } = ctx;
  const d = size.deferredEvents;
  console.log(`(f) fresh events at ${size.latencyRate}/s with ${d} deferred events vs none`);
  const { url, pool } = await createBenchDatabase(ctx.serverUrl, 'bench_deferred', ctx.logger);
  const service = await startBenchService(url, SERVICE_PORT, serviceEnv(ctx));
  try {
    const range = await insertDeferred(pool, d);
    await waitCaughtUp(pool, 600_000);
    await pool.query('vacuum analyze outbox, outbox_parked');
    const latencies = { none: [] as number[][], deferred: [] as number[][] };
    await ctx.repeat(async (run) => {
      const order: (keyof typeof latencies)[] =
        run % 2 === 0 ? ['deferred', 'none'] : ['none', 'deferred'];
      for (const key of order) {
        if (key === 'none') await unpark(pool, range);
        else await park(pool, range);
        // Leaves autovacuum nothing to do on them during the measurement, either way.
        await pool.query('vacuum analyze outbox_parked');
        latencies[key].push(
          await ctx.cpu.measure(`f latency at ${size.latencyRate}/s, ${key}`, service.pid, () =>
            updateLatencies(pool, size.latencyRate, size.latencySeconds),
          ),
        );
      }
    });
    const p = (key: keyof typeof latencies, q: number) =>
      latencies[key].map((l) => percentile(l, q));
    const label = { none: 'no deferred event', deferred: `${d} deferred events` };
    const p50: Record<string, number> = {};
    for (const key of ['none', 'deferred'] as const) {
      const at = `at ${size.latencyRate}/s, ${label[key]}`;
      p50[key] = ctx.record('f deferred', `fresh p50 ${at}`, 'ms', p(key, 50));
      ctx.record('f deferred', `fresh p95 ${at}`, 'ms', p(key, 95));
      ctx.record('f deferred', `fresh p99 ${at}`, 'ms', p(key, 99));
    }
    ctx.goal(atMost(`fresh p50 with ${d} deferred / without`, p50.deferred!, p50.none!, 1.2));
  } finally {
    await service.stop();
    await pool.end();
  }
}
