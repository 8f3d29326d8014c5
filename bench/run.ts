// npm run bench: every figure of issues 6 and 11, each goal as a ratio against a baseline measured
// in the same run. Sets up its own PostgreSQL (embedded, durable default settings) unless
// BENCH_DATABASE_URL names a server (a superuser URL: it creates and drops bench_* databases).
//
//   BENCH_SIZE=small   quick pass with small sizes (to try the harness); default: full
//   BENCH_RUNS=3       repetitions of every measurement
//   BENCH_CONCURRENCY  our dispatcher's connections, the c0c2466 replay's loops, the peers' jobs in
//                      flight (default 4)
//   BENCH_SECTIONS     a comma-separated subset of wal,service,drain,deferred,email,scale
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded';
import { createLogger } from '../src/observability/logger';
import { freePort } from '../test/helpers/process';
import { SIZES, type BenchContext } from './lib/context';
import { createCpuAccounting, findPostmaster } from './lib/cpu';
import { buildService } from './lib/processes';
import { renderCpu, renderFigures, renderGoals, spread, type Figure, type Goal } from './lib/stats';
import { benchDeferred } from './sections/deferred';
import { benchDrain } from './sections/drain';
import { benchEmail } from './sections/email';
import { benchScale } from './sections/scale';
import { benchService, type OurLatency } from './sections/service';
import { benchWal } from './sections/wal';

const SECTIONS = ['wal', 'service', 'drain', 'deferred', 'email', 'scale'] as const;
type Section = (typeof SECTIONS)[number];

const sizeName = process.env.BENCH_SIZE === 'small' ? 'small' : 'full';
const size = SIZES[sizeName];
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const chosen = new Set(
  (process.env.BENCH_SECTIONS ?? SECTIONS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const s of chosen) {
  if (!(SECTIONS as readonly string[]).includes(s)) {
    throw new Error(`BENCH_SECTIONS: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
  }
}
const logger = createLogger({ level: 'warn' });

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
  const admin = new pg.Pool({ connectionString: serverUrl, max: 1 });
  admin.on('error', () => undefined);
  const { rows } = await admin.query<{ v: string }>('show server_version');
  const postmaster = await findPostmaster(admin);
  await admin.end();
  if (postmaster === undefined) {
    console.log('PostgreSQL is not a process of this machine: its CPU share is not measured');
  }

  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const notes: Record<string, unknown> = {};
  const cpu = createCpuAccounting(postmaster);
  const ctx: BenchContext = {
    serverUrl,
    size,
    runs: RUNS,
    concurrency: CONCURRENCY,
    logger,
    cpu,
    record(section, name, unit, runs) {
      const s = spread(runs);
      figures.push({ section, name, unit, spread: s });
      console.log(`  ${section} ${name}: ${runs.map((r) => r.toFixed(2)).join(', ')} ${unit}`);
      return s.median;
    },
    goal: (g) => goals.push(g),
    note: (key, value) => (notes[key] = value),
    async repeat(fn) {
      const out = [];
      for (let i = 0; i < RUNS; i++) out.push(await fn(i));
      return out;
    },
  };
  const run = (s: Section) => chosen.has(s);
  try {
    // First, while nothing else has written to the server: pg_stat_wal counts the whole cluster.
    if (run('wal')) await benchWal(ctx);
    let ours: OurLatency | undefined;
    if (run('service')) ours = await benchService(ctx);
    if (run('drain')) await benchDrain(ctx, ours);
    if (run('deferred')) await benchDeferred(ctx);
    if (run('email')) await benchEmail(ctx);
    if (run('scale')) await benchScale(ctx);
  } finally {
    await stopEmbedded?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
  const durationSec = (Date.now() - startedAt) / 1000;
  const shares = cpu.shares();
  console.log(`\n${renderFigures(figures)}\n\n${renderGoals(goals)}\n`);
  console.log(
    `CPU in cores (CPU seconds per wall second) over each phase; the bench process is the load ` +
      `generator (and graphile-worker, pg-boss, the SMTP server where named):\n` +
      `${renderCpu(shares, cpu.cores)}\n`,
  );
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
    settings: { size: sizeName, sizes: size, runs: RUNS, concurrency: CONCURRENCY },
    sections: [...chosen],
    figures,
    goals,
    cpu: shares,
    notes,
  };
  await writeFile(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('wrote bench/results.json');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
