// (b) drain with the built-in record, against graphile-worker and pg-boss draining no-op jobs;
// (c) graphile-worker's add_job -> task start latency at the same rate as ours.
import { createBacklog, createBenchDatabase, drainRate } from '../lib/bench-db';
import { SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startBenchService } from '../lib/processes';
import { atLeast, atMost, percentile } from '../lib/stats';
import { graphileDrain, graphileLatency } from '../peers/graphile-worker';
import { pgBossDrain } from '../peers/pg-boss';
import type { OurLatency } from './service';

export async function benchDrain(ctx: BenchContext, ours: OurLatency | undefined): Promise<void> {
  const { size, cpu, concurrency } = ctx;
  console.log(`(b) drain: ${size.drainEvents} events with the built-in record`);
  const db = await createBenchDatabase(ctx.serverUrl, 'bench_drain', ctx.logger);
  const service = await startBenchService(db.url, SERVICE_PORT, serviceEnv(ctx));
  const oursRates = await ctx.repeat(async () => {
    const range = await createBacklog(db.pool, size.drainEvents);
    return cpu.measure('b drain, ours', service.pid, () => drainRate(db.pool, range, 600_000));
  });
  await service.stop();
  await db.pool.end();

  console.log('(b, c) peers: graphile-worker, pg-boss');
  const peers = await createBenchDatabase(ctx.serverUrl, 'bench_peers', ctx.logger);
  try {
    const gwRates = await ctx.repeat(() =>
      cpu.measure('b drain, graphile-worker (in the bench process)', undefined, () =>
        graphileDrain(peers.url, peers.pool, size.drainEvents, concurrency),
      ),
    );
    const bossRates = await ctx.repeat(() =>
      cpu.measure('b drain, pg-boss (in the bench process)', undefined, () =>
        pgBossDrain(peers.url, peers.pool, size.drainEvents, concurrency),
      ),
    );
    const gwLatency = await ctx.repeat(() =>
      cpu.measure(`c graphile-worker latency at ${size.latencyRate}/s`, undefined, () =>
        graphileLatency(peers.url, peers.pool, size.latencyRate, size.latencySeconds, concurrency),
      ),
    );
    const o = ctx.record('b drain', 'ours: events/s, built-in record', 'events/s', oursRates);
    const g = ctx.record('b drain', 'graphile-worker: no-op jobs/s, batched', 'jobs/s', gwRates);
    ctx.record('b drain', 'pg-boss: no-op jobs/s, batchSize 500', 'jobs/s', bossRates);
    ctx.goal(atLeast('drain: ours / graphile-worker', o, g, 2));
    const p = (q: number) => gwLatency.map((l) => percentile(l, q));
    const rate = size.latencyRate;
    const gp50 = ctx.record('c latency', `graphile-worker p50 at ${rate}/s`, 'ms', p(50));
    ctx.record('c latency', `graphile-worker p95 at ${rate}/s`, 'ms', p(95));
    const gp99 = ctx.record('c latency', `graphile-worker p99 at ${rate}/s`, 'ms', p(99));
    if (ours) {
      ctx.goal(atMost(`latency at ${rate}/s: p50 ours / graphile-worker`, ours.p50, gp50, 0.5));
      ctx.goal(atMost(`latency at ${rate}/s: p99 ours / graphile-worker`, ours.p99, gp99, 0.5));
    }
  } finally {
    await peers.pool.end();
  }
}
