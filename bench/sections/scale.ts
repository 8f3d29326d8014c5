// (e) scale: the drain must not slow down with a long log behind the position, and the service's
// memory must stay bounded while it drains a big backlog.
import type pg from 'pg';
import { BENCH_ORDERS, createBenchDatabase, drainRate, type IdRange } from '../lib/bench-db';
import { SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startBenchService } from '../lib/processes';
import { atLeast, below } from '../lib/stats';

/**
 * Inserts `events` order.status_changed events in bulk, with payloads shaped like the trigger's
 * (the built-in effect reads them), spread over every order. Returns their id range.
 */
export async function insertEvents(pool: pg.Pool, events: number): Promise<IdRange> {
  const { rows } = await pool.query<{ from: string; to: string }>(
    `with ins as (
       insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       select 'order', o.id::text, 'order.status_changed',
              jsonb_build_object('op', 'update', 'table', 'orders', 'new', to_jsonb(o),
                                 'old', jsonb_build_object('status', 'pending'))
         from generate_series(1, $1::int) r
         join orders o on o.id = 1 + (r - 1) % $2::int
        order by r
       returning id)
     select min(id)::text as from, max(id)::text as to from ins`,
    [events, BENCH_ORDERS],
  );
  return rows[0]!;
}

async function countEvents(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`select count(*) as n from outbox`);
  return Number(rows[0]!.n);
}

/** Drain with ~1k vs ~N events behind the position; peak RSS while draining the big backlog. */
export async function benchScale(ctx: BenchContext): Promise<void> {
  const { size } = ctx;
  const old = size.scaleOldEvents;
  console.log(`(e) scale: drain with ~1k vs ~${old} events behind the position`);
  const { url, pool } = await createBenchDatabase(ctx.serverUrl, 'bench_scale', ctx.logger);
  const service = await startBenchService(url, SERVICE_PORT, serviceEnv(ctx));
  try {
    await drainRate(pool, await insertEvents(pool, 1_000), 60_000);
    const few = await ctx.repeat(async () => {
      // Back to ~1k events in the log before each run (what retention does: they are all behind
      // the position). No ANALYZE: the reads must not depend on statistics.
      await pool.query(`delete from outbox where id > (select min(id) + 999 from outbox)`);
      const range = await insertEvents(pool, size.scaleDrainEvents);
      return ctx.cpu.measure('e drain, short log', service.pid, () =>
        drainRate(pool, range, 600_000),
      );
    });
    const bigBacklog = old - (await countEvents(pool));
    const range = await insertEvents(pool, bigBacklog);
    service.resetPeakRss();
    const bigRate = await ctx.cpu.measure('e drain, big backlog', service.pid, () =>
      drainRate(pool, range, 900_000),
    );
    const rss = service.peakRssMb();
    const many = await ctx.repeat(async () => {
      const r = await insertEvents(pool, size.scaleDrainEvents);
      return ctx.cpu.measure('e drain, long log', service.pid, () => drainRate(pool, r, 600_000));
    });
    const a = ctx.record(
      'e scale',
      `drain with ~1k events in the log (${size.scaleDrainEvents} events)`,
      'events/s',
      few,
    );
    const b = ctx.record('e scale', `drain with ~${old} events in the log`, 'events/s', many);
    ctx.record('e scale', `drain of the ${bigBacklog}-event backlog`, 'events/s', [bigRate]);
    ctx.record('e scale', `peak RSS of the service draining ${bigBacklog} events`, 'MB', [rss]);
    ctx.goal(atLeast(`drain with ${old} events in the log / with 1k`, b, a, 0.9));
    ctx.goal(below(`peak RSS draining ${bigBacklog} events`, rss, 250, 'MB'));
  } finally {
    await service.stop();
    await pool.end();
  }
}
