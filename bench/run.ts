// npm run bench: every figure of issue 6, each goal as a ratio against a baseline measured in the
// same run. Sets up its own PostgreSQL (embedded, durable default settings) unless
// BENCH_DATABASE_URL names a server (a superuser URL: it creates and drops bench_* databases).
//
//   BENCH_SIZE=small   quick pass with small sizes (to try the harness); default: full
//   BENCH_RUNS=3       repetitions of every measurement
//   BENCH_CONCURRENCY  claim loops / jobs in flight for our service and the peers (default 4)
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded';
import { createLogger } from '../src/observability/logger';
import { freePort } from '../test/helpers/process';
import { BENCH_ORDERS, createBacklog, createBenchDatabase, drainRate } from './lib/bench-db';
import { buildService, startBenchService, startServer } from './lib/processes';
import {
  atLeast,
  atMost,
  below,
  percentile,
  renderFigures,
  renderGoals,
  spread,
  type Figure,
  type Goal,
} from './lib/stats';
import { graphileDrain, graphileLatency } from './peers/graphile-worker';
import { pgBossDrain } from './peers/pg-boss';
import { captureRun, setCapture, writeTps } from './sections/capture';
import { patchLoad } from './sections/http';
import { updateLatencies } from './sections/latency';
import { countDone, insertPendingEvents } from './sections/scale';

const SIZES = {
  full: {
    captureSeconds: 5,
    drainEvents: 100_000,
    latencyRate: 100,
    latencySeconds: 10,
    httpSeconds: 5,
    scaleDrainEvents: 20_000,
    scaleDoneRows: 1_000_000,
  },
  small: {
    captureSeconds: 2,
    drainEvents: 5_000,
    latencyRate: 100,
    latencySeconds: 3,
    httpSeconds: 2,
    scaleDrainEvents: 2_000,
    scaleDoneRows: 20_000,
  },
};

const size = SIZES[(process.env.BENCH_SIZE as keyof typeof SIZES) ?? 'full'] ?? SIZES.full;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const SERVICE_PORT = 3191;
const BARE_PORT = 3192;
const logger = createLogger({ level: 'warn' });

const figures: Figure[] = [];
const goals: Goal[] = [];

function record(section: string, name: string, unit: string, runs: number[]): number {
  const s = spread(runs);
  figures.push({ section, name, unit, spread: s });
  console.log(`  ${section} ${name}: ${runs.map((r) => r.toFixed(2)).join(', ')} ${unit}`);
  return s.median;
}

async function repeat<T>(fn: (run: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await fn(i));
  return out;
}

function serviceEnv(wakeup: 'gated' | 'notify'): Record<string, string> {
  return { OUTBOX_WAKEUP: wakeup, OUTBOX_CONCURRENCY: String(CONCURRENCY) };
}

/** (a) capture, (c) our latency, (d) HTTP; the naive doorbell (OUTBOX_WAKEUP=notify) as "before". */
async function benchMain(serverUrl: string): Promise<void> {
  const { url, pool } = await createBenchDatabase(serverUrl, 'bench_main', logger);
  try {
    const tps: Record<string, number[]> = {};
    const push = (key: string, v: number) => (tps[key] ??= []).push(v);

    console.log('(a) capture cost, (c) latency, (d) HTTP: service with the wake-up gate');
    let service = await startBenchService(url, SERVICE_PORT, serviceEnv('gated'));
    await repeat(async () => {
      for (const writers of [1, 32]) {
        await setCapture(pool, false);
        push(`off-${writers}`, await writeTps(pool, writers, size.captureSeconds));
        await setCapture(pool, true);
        push(`gated-${writers}`, (await captureRun(pool, writers, size.captureSeconds)).tps);
      }
    });
    const latency = await repeat(() =>
      updateLatencies(pool, size.latencyRate, size.latencySeconds),
    );
    const http: Record<string, number[]> = {};
    const pushHttp = (key: string, v: number) => (http[key] ??= []).push(v);
    const underLoad = async (key: string) => {
      for (const connections of [10, 50]) {
        const before = await lastId(pool);
        const r = await patchLoad(service.url, connections, size.httpSeconds, BENCH_ORDERS);
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
    await repeat(() => underLoad('gated'));
    await service.stop();

    console.log('(a) and (d) before: the naive doorbell, every capturing commit NOTIFYs');
    service = await startBenchService(url, SERVICE_PORT, serviceEnv('notify'));
    await repeat(async () => {
      for (const writers of [1, 32]) {
        push(`notify-${writers}`, (await captureRun(pool, writers, size.captureSeconds)).tps);
      }
    });
    await repeat(() => underLoad('notify'));
    await service.stop();

    console.log('(d) baseline: bare Express + pg, capture triggers disabled, no listener');
    await setCapture(pool, false);
    const bare = await startServer('bench/bare-server.ts', { DATABASE_URL: url }, BARE_PORT);
    await repeat(async () => {
      for (const connections of [10, 50]) {
        const r = await patchLoad(bare.url, connections, size.httpSeconds, BENCH_ORDERS);
        pushHttp(`bare-rps-${connections}`, r.rps);
        pushHttp(`bare-p50-${connections}`, r.p50);
        pushHttp(`bare-p99-${connections}`, r.p99);
      }
    });
    await bare.stop();
    await setCapture(pool, true);

    const m = (section: string, name: string, unit: string, runs: number[]) =>
      record(section, name, unit, runs);
    for (const w of [1, 32]) {
      const off = m(
        'a capture',
        `UPDATE TPS, ${w} writer(s), triggers disabled`,
        'tx/s',
        tps[`off-${w}`]!,
      );
      const gated = m(
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
      goals.push(
        atLeast(`capture at ${w} writer(s): gated / disabled`, gated, off, w === 1 ? 0.8 : 0.7),
      );
      figures.push({
        section: 'a capture',
        name: `(before) NOTIFY always / disabled, ${w} writer(s)`,
        unit: 'ratio',
        spread: spread([naive / off]),
      });
    }
    const p = (q: number) => latency.map((l) => percentile(l, q));
    latencyOurs = {
      p50: m('c latency', 'ours p50 at 100/s', 'ms', p(50)),
      p95: m('c latency', 'ours p95 at 100/s', 'ms', p(95)),
      p99: m('c latency', 'ours p99 at 100/s', 'ms', p(99)),
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
    goals.push(below('latency under 50-connection PATCH load: p50', hp50, 5, 'ms'));
    goals.push(below('latency under 50-connection PATCH load: p99', hp99, 20, 'ms'));
    for (const c of [10, 50]) {
      const med = (k: string) => spread(http[k]!).median;
      goals.push(
        atLeast(
          `PATCH req/s at ${c} connections: service / bare`,
          med(`gated-rps-${c}`),
          med(`bare-rps-${c}`),
          0.7,
        ),
      );
    }
  } finally {
    await pool.end();
  }
}

let latencyOurs: { p50: number; p95: number; p99: number } | undefined;

async function lastId(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string | null }>('select max(id) as id from outbox');
  return rows[0]!.id ?? '0';
}

async function handledSince(pool: pg.Pool, before: string): Promise<number[]> {
  const to = await lastId(pool);
  if (BigInt(to) <= BigInt(before)) return [];
  await drainRate(pool, { from: String(BigInt(before) + 1n), to }, 120_000);
  const { rows } = await pool.query<{ ms: number }>(
    `select extract(epoch from processed_at - created_at)::float8 * 1000 as ms
       from outbox where id > $1 and status = 'done'`,
    [before],
  );
  return rows.map((r) => r.ms);
}

/** (b) drain with the real handler, against graphile-worker and pg-boss draining no-op jobs. */
async function benchDrain(serverUrl: string): Promise<void> {
  console.log(`(b) drain: ${size.drainEvents} events with the built-in handler`);
  const ours = await createBenchDatabase(serverUrl, 'bench_drain', logger);
  const service = await startBenchService(ours.url, SERVICE_PORT, serviceEnv('gated'));
  const oursRates = await repeat(async () => {
    const range = await createBacklog(ours.pool, size.drainEvents);
    return drainRate(ours.pool, range, 600_000);
  });
  await service.stop();
  await ours.pool.end();

  console.log('(b, c) peers: graphile-worker, pg-boss');
  const peers = await createBenchDatabase(serverUrl, 'bench_peers', logger);
  try {
    const gwRates = await repeat(() =>
      graphileDrain(peers.url, peers.pool, size.drainEvents, CONCURRENCY),
    );
    const bossRates = await repeat(() =>
      pgBossDrain(peers.url, peers.pool, size.drainEvents, CONCURRENCY),
    );
    const gwLatency = await repeat(() =>
      graphileLatency(peers.url, peers.pool, size.latencyRate, size.latencySeconds, CONCURRENCY),
    );
    const o = record('b drain', 'ours: events/s, real handler', 'events/s', oursRates);
    const g = record('b drain', 'graphile-worker: no-op jobs/s, batched', 'jobs/s', gwRates);
    record('b drain', 'pg-boss: no-op jobs/s, batchSize 500', 'jobs/s', bossRates);
    goals.push(atLeast('drain: ours / graphile-worker', o, g, 2));
    const gp50 = record(
      'c latency',
      'graphile-worker p50 at 100/s',
      'ms',
      gwLatency.map((l) => percentile(l, 50)),
    );
    record(
      'c latency',
      'graphile-worker p95 at 100/s',
      'ms',
      gwLatency.map((l) => percentile(l, 95)),
    );
    const gp99 = record(
      'c latency',
      'graphile-worker p99 at 100/s',
      'ms',
      gwLatency.map((l) => percentile(l, 99)),
    );
    if (latencyOurs) {
      goals.push(
        atMost('latency at 100/s: p50 ours / graphile-worker', latencyOurs.p50, gp50, 0.5),
      );
      goals.push(
        atMost('latency at 100/s: p99 ours / graphile-worker', latencyOurs.p99, gp99, 0.5),
      );
    }
  } finally {
    await peers.pool.end();
  }
}

/** (e) drain with few vs. many done rows; peak RSS while draining the big backlog. */
async function benchScale(serverUrl: string): Promise<void> {
  console.log(`(e) scale: drain with 1k vs ${size.scaleDoneRows} done rows`);
  const { url, pool } = await createBenchDatabase(serverUrl, 'bench_scale', logger);
  const service = await startBenchService(url, SERVICE_PORT, serviceEnv('gated'));
  try {
    await drainRate(pool, await insertPendingEvents(pool, 1_000), 60_000);
    const few = await repeat(async () => {
      // Back to 1k done rows before each run. No ANALYZE here: statistics taken while nothing is
      // open make the claim's plan collapse (docs/performance.md, "limits"), which is not what
      // this section measures.
      await pool.query(`delete from outbox where id > (select min(id) + 999 from outbox)`);
      return drainRate(pool, await insertPendingEvents(pool, size.scaleDrainEvents), 600_000);
    });
    const bigBacklog = size.scaleDoneRows - (await countDone(pool));
    const range = await insertPendingEvents(pool, bigBacklog);
    service.resetPeakRss();
    const bigRate = await drainRate(pool, range, 900_000);
    const rss = service.peakRssMb();
    const many = await repeat(async () =>
      drainRate(pool, await insertPendingEvents(pool, size.scaleDrainEvents), 600_000),
    );
    const a = record(
      'e scale',
      `drain with ~1k done rows (${size.scaleDrainEvents} events)`,
      'events/s',
      few,
    );
    const b = record('e scale', `drain with ~${size.scaleDoneRows} done rows`, 'events/s', many);
    record('e scale', `drain of the ${bigBacklog}-event backlog`, 'events/s', [bigRate]);
    record('e scale', `peak RSS of the service draining ${bigBacklog} events`, 'MB', [rss]);
    goals.push(atLeast(`drain at ${size.scaleDoneRows} done rows / at 1k`, b, a, 0.9));
    goals.push(below(`peak RSS draining ${bigBacklog} events`, rss, 250, 'MB'));
  } finally {
    await service.stop();
    await pool.end();
  }
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  console.log('building the service (npm run build): the bench runs dist/main.js');
  buildService();
  let serverUrl = process.env.BENCH_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!serverUrl) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-bench-pg-'));
    // Default durable settings (fsync, synchronous_commit on): the figures must mean something.
    const embedded = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      port: await freePort(),
      database: 'postgres',
      logger,
      settings: { max_connections: '200', shared_buffers: '256MB' },
    });
    serverUrl = embedded.ownerUrl;
    stopEmbedded = () => embedded.stop();
  }
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const { rows } = await admin.query<{ v: string }>('show server_version');
  await admin.end();
  try {
    await benchMain(serverUrl);
    await benchDrain(serverUrl);
    await benchScale(serverUrl);
  } finally {
    await stopEmbedded?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
  const durationSec = (Date.now() - startedAt) / 1000;
  console.log(`\n${renderFigures(figures)}\n\n${renderGoals(goals)}\n`);
  console.log(`bench took ${durationSec.toFixed(0)} s (${RUNS} runs of each measurement)`);
  const results = {
    date: new Date().toISOString(),
    durationSec,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      postgres: rows[0]!.v,
      loadAverageAtEnd: os.loadavg(),
    },
    settings: { size, runs: RUNS, concurrency: CONCURRENCY },
    figures,
    goals,
  };
  await writeFile(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('wrote bench/results.json');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
