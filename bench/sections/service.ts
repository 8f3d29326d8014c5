// (a) capture, (c) our latency, (d) HTTP, on one database with our service running; the naive
// doorbell (OUTBOX_WAKEUP=notify) as "before", a bare Express + pg server as the HTTP baseline.
import type pg from 'pg';
import {
  BENCH_ORDERS,
  createBenchDatabase,
  handledLatencies,
  lastOutboxId,
  rangeSince,
  waitDrained,
} from '../lib/bench-db';
import { BARE_PORT, SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startBenchService, startServer, type ServerProcess } from '../lib/processes';
import { atLeast, below, percentile, spread } from '../lib/stats';
import { captureRun, setCapture, writeTps } from './capture';
import { patchLoad } from './http';
import { updateLatencies } from './latency';

/** Our p50/p95/p99 at 100/s, for the comparison with graphile-worker's in (b, c). */
export interface OurLatency {
  p50: number;
  p95: number;
  p99: number;
}

/** Commit -> handled of the events written since `before`, once notify-client owes none. */
async function handledSince(pool: pg.Pool, before: string): Promise<number[]> {
  const range = await rangeSince(pool, before);
  if (!range) return [];
  await waitDrained(pool, range, 120_000);
  return handledLatencies(pool, range);
}

export async function benchService(ctx: BenchContext): Promise<OurLatency> {
  const { size, cpu } = ctx;
  const { url, pool } = await createBenchDatabase(ctx.serverUrl, 'bench_main', ctx.logger);
  try {
    const tps: Record<string, number[]> = {};
    const push = (key: string, v: number) => (tps[key] ??= []).push(v);
    const http: Record<string, number[]> = {};
    const pushHttp = (key: string, v: number) => (http[key] ??= []).push(v);

    const underLoad = async (service: ServerProcess, key: string) => {
      for (const connections of [10, 50]) {
        const before = await lastOutboxId(pool);
        const r = await cpu.measure(
          `d PATCH, ${key}, ${connections} connections`,
          service.pid,
          () => patchLoad(service.url, connections, size.httpSeconds, BENCH_ORDERS),
        );
        pushHttp(`${key}-rps-${connections}`, r.rps);
        pushHttp(`${key}-p50-${connections}`, r.p50);
        pushHttp(`${key}-p99-${connections}`, r.p99);
        if (r.errors > 0) console.warn(`  ${key} ${connections} connections: ${r.errors} errors`);
        if (connections === 50) {
          const lat = await handledSince(pool, before);
          pushHttp(`${key}-handled-p50`, percentile(lat, 50));
          pushHttp(`${key}-handled-p99`, percentile(lat, 99));
        }
      }
    };

    console.log('(a) capture cost, (c) latency, (d) HTTP: service with the wake-up gate');
    let service = await startBenchService(url, SERVICE_PORT, serviceEnv(ctx));
    await ctx.repeat(async () => {
      for (const w of [1, 32]) {
        await setCapture(pool, false);
        push(
          `off-${w}`,
          await cpu.measure(`a capture, ${w} writer(s), triggers off`, service.pid, () =>
            writeTps(pool, w, size.captureSeconds),
          ),
        );
        await setCapture(pool, true);
        const run = await cpu.measure(`a capture, ${w} writer(s), gated`, service.pid, () =>
          captureRun(pool, w, size.captureSeconds),
        );
        push(`gated-${w}`, run.tps);
      }
    });
    const latency = await ctx.repeat(() =>
      cpu.measure(`c latency at ${size.latencyRate}/s`, service.pid, () =>
        updateLatencies(pool, size.latencyRate, size.latencySeconds),
      ),
    );
    const gated = service;
    await ctx.repeat(() => underLoad(gated, 'gated'));
    await service.stop();

    console.log('(a) and (d) before: the naive doorbell, every capturing commit NOTIFYs');
    service = await startBenchService(url, SERVICE_PORT, serviceEnv(ctx, 'notify'));
    const notify = service;
    await ctx.repeat(async () => {
      for (const w of [1, 32]) {
        const run = await cpu.measure(`a capture, ${w} writer(s), notify`, notify.pid, () =>
          captureRun(pool, w, size.captureSeconds),
        );
        push(`notify-${w}`, run.tps);
      }
    });
    await ctx.repeat(() => underLoad(notify, 'notify'));
    await service.stop();

    console.log('(d) baseline: bare Express + pg, capture triggers disabled, no listener');
    await setCapture(pool, false);
    const bare = await startServer('bench/bare-server.ts', { DATABASE_URL: url }, BARE_PORT);
    await ctx.repeat(async () => {
      for (const connections of [10, 50]) {
        const r = await cpu.measure(`d PATCH, bare, ${connections} connections`, bare.pid, () =>
          patchLoad(bare.url, connections, size.httpSeconds, BENCH_ORDERS),
        );
        pushHttp(`bare-rps-${connections}`, r.rps);
        pushHttp(`bare-p50-${connections}`, r.p50);
        pushHttp(`bare-p99-${connections}`, r.p99);
      }
    });
    await bare.stop();
    await setCapture(pool, true);

    const m = ctx.record;
    for (const w of [1, 32]) {
      const off = m(
        'a capture',
        `UPDATE TPS, ${w} writer(s), triggers disabled`,
        'tx/s',
        tps[`off-${w}`]!,
      );
      const on = m(
        'a capture',
        `UPDATE TPS, ${w} writer(s), capture + gate`,
        'tx/s',
        tps[`gated-${w}`]!,
      );
      const naive = m(
        'a capture',
        `UPDATE TPS, ${w} writer(s), capture + NOTIFY always`,
        'tx/s',
        tps[`notify-${w}`]!,
      );
      ctx.goal(
        atLeast(`capture at ${w} writer(s): gated / disabled`, on, off, w === 1 ? 0.8 : 0.6),
      );
      m('a capture', `(before) NOTIFY always / disabled, ${w} writer(s)`, 'ratio', [naive / off]);
    }
    const p = (q: number) => latency.map((l) => percentile(l, q));
    const ours = {
      p50: m('c latency', `ours p50 at ${size.latencyRate}/s`, 'ms', p(50)),
      p95: m('c latency', `ours p95 at ${size.latencyRate}/s`, 'ms', p(95)),
      p99: m('c latency', `ours p99 at ${size.latencyRate}/s`, 'ms', p(99)),
    };
    for (const key of ['gated', 'notify', 'bare']) {
      for (const c of [10, 50]) {
        m('d http', `${key}: req/s at ${c} connections`, 'req/s', http[`${key}-rps-${c}`]!);
        m('d http', `${key}: p50 at ${c} connections`, 'ms', http[`${key}-p50-${c}`]!);
        m('d http', `${key}: p99 at ${c} connections`, 'ms', http[`${key}-p99-${c}`]!);
      }
    }
    const hp50 = m(
      'c latency',
      'ours handled p50 under 50-connection PATCH load',
      'ms',
      http['gated-handled-p50']!,
    );
    const hp99 = m(
      'c latency',
      'ours handled p99 under 50-connection PATCH load',
      'ms',
      http['gated-handled-p99']!,
    );
    m(
      'c latency',
      '(before) NOTIFY always: handled p50 under load',
      'ms',
      http['notify-handled-p50']!,
    );
    m(
      'c latency',
      '(before) NOTIFY always: handled p99 under load',
      'ms',
      http['notify-handled-p99']!,
    );
    ctx.goal(below('latency under 50-connection PATCH load: p50', hp50, 5, 'ms'));
    ctx.goal(below('latency under 50-connection PATCH load: p99', hp99, 20, 'ms'));
    for (const c of [10, 50]) {
      const med = (k: string) => spread(http[k]!).median;
      ctx.goal(
        atLeast(
          `PATCH req/s at ${c} connections: service / bare`,
          med(`gated-rps-${c}`),
          med(`bare-rps-${c}`),
          0.7,
        ),
      );
    }
    return ours;
  } finally {
    await pool.end();
  }
}
