// (w) WAL per captured-and-handled event, the event log's against c0c2466's per-event outbox,
// side by side: two databases on the same server, the same writer loop, the same number of events
// and the same effect row (notifications). For each, per event, from pg_stat_wal around each step:
//   (a) the bare UPDATE: the writers' loop with the capture triggers disabled;
//   (b) the same loop with capture on while the dispatcher drains every event, then a VACUUM of
//       the tables the run wrote (so that each model pays for the row versions it leaves behind);
//   (c) the effect row alone: the notifications rows of (b) inserted again, in chunks of 500 (a
//       batch), into a scratch copy of notifications (same columns, identity and indexes), then a
//       VACUUM of it;
//   outbox part = (b) - (a) - (c).
// Autovacuum is off for the tables measured (it would land in one window and not another) and
// every window starts after a CHECKPOINT and a warm-up of the same loop, so that full-page images
// of pages touched first are not counted (their number per event is printed as a check).
import type pg from 'pg';
import {
  createBenchDatabase,
  lastOutboxId,
  rangeSince,
  waitDrained,
  type IdRange,
} from '../lib/bench-db';
import { SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startBenchService } from '../lib/processes';
import { atMost } from '../lib/stats';
import { minus, perEvent, prepareWal, walBetween, walPosition, type WalDelta } from '../lib/wal';
import {
  BASELINE_COMMIT,
  baselineMigrations,
  startBaselineDispatcher,
  waitBaselineDrained,
} from '../baselines/c0c2466';
import { setCapture, writeCount } from './capture';

const WRITERS = [1, 32] as const;
const EFFECT_CHUNK = 500;
const DRAIN_TIMEOUT_MS = 300_000;

interface Model {
  label: string;
  pool: pg.Pool;
  /** pg_walinspect is installed in its database (bench/lib/wal.ts). */
  inspect: boolean;
  /** Starts the model's dispatcher; returns what waits for a range to be drained, and a stop. */
  start(): Promise<{ drained(range: IdRange): Promise<void>; stop(): Promise<void> }>;
  /** The tables a captured-and-handled run writes. */
  tables: string[];
}

/** Per event, one writer count, one run. */
interface WalSample {
  bare: WalDelta;
  effect: WalDelta;
  handled: WalDelta;
  vacuum: WalDelta;
  outbox: WalDelta;
}

async function window(model: Model, fn: () => Promise<void>): Promise<WalDelta> {
  const from = await walPosition(model.pool);
  await fn();
  return walBetween(model.pool, from, await walPosition(model.pool), model.inspect);
}

async function measureAt(
  model: Model,
  drained: (range: IdRange) => Promise<void>,
  writers: number,
  events: number,
  warmup: number,
): Promise<WalSample> {
  const { pool } = model;
  const tables = model.tables.join(', ');

  // (a) the bare UPDATE.
  await setCapture(pool, false);
  await pool.query('checkpoint');
  await writeCount(pool, writers, warmup);
  await pool.query('vacuum orders');
  const bare = await window(model, async () => {
    await writeCount(pool, writers, events);
    await pool.query('vacuum orders');
  });
  await setCapture(pool, true);

  // (b) captured and handled.
  await pool.query('checkpoint');
  const warm = await lastOutboxId(pool);
  await writeCount(pool, writers, warmup);
  await drained((await rangeSince(pool, warm))!);
  await pool.query(`vacuum ${tables}`);
  const before = await lastOutboxId(pool);
  const start = await walPosition(pool);
  await writeCount(pool, writers, events);
  const range = (await rangeSince(pool, before))!;
  await drained(range);
  const beforeVacuum = await walPosition(pool);
  await pool.query(`vacuum ${tables}`);
  const end = await walPosition(pool);
  const handled = await walBetween(pool, start, end, model.inspect);
  const vacuum = await walBetween(pool, beforeVacuum, end, model.inspect);

  // (c) the effect row alone.
  await pool.query('drop table if exists bench_effect');
  await pool.query('create table bench_effect (like notifications including all)');
  await pool.query('alter table bench_effect set (autovacuum_enabled = off)');
  const effect = await window(model, async () => {
    for (let from = BigInt(range.from); from <= BigInt(range.to); from += BigInt(EFFECT_CHUNK)) {
      await pool.query(
        `insert into bench_effect (event_id, client_id, order_id, channel, subject, body,
                                   created_at, sent_at)
         select event_id, client_id, order_id, channel, subject, body, created_at, sent_at
           from notifications where event_id between $1 and $2 order by event_id`,
        [String(from), String(from + BigInt(EFFECT_CHUNK) - 1n)],
      );
    }
    await pool.query('vacuum bench_effect');
  });
  await pool.query('drop table bench_effect');

  const n = events;
  const sample = {
    bare: perEvent(bare, n),
    effect: perEvent(effect, n),
    handled: perEvent(handled, n),
    vacuum: perEvent(vacuum, n),
    outbox: perEvent(minus(handled, bare, effect), n),
  };
  const parts = Object.entries(sample.outbox.byRmgr)
    .filter(([, v]) => Math.abs(v) >= 1)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
  console.log(
    `  w ${model.label}, ${writers} writer(s): ${sample.handled.bytes.toFixed(0)} B/event ` +
      `captured + handled (full-page images ${sample.handled.fpiBytes.toFixed(0)}); outbox part ` +
      `${sample.outbox.bytes.toFixed(0)} B/event: ${parts}`,
  );
  return sample;
}

async function prepare(model: Model): Promise<void> {
  for (const t of [...model.tables, 'bench_wal_mark']) {
    await model.pool.query(`alter table ${t} set (autovacuum_enabled = off)`);
  }
  // Nothing left for autovacuum in the catalogs either (the migrations churned them).
  await model.pool.query('vacuum analyze');
}

export async function benchWal(ctx: BenchContext): Promise<void> {
  const { size } = ctx;
  console.log(
    `(w) WAL per event: ${size.walEvents} events at 1 and 32 writers, event log vs ${BASELINE_COMMIT}`,
  );
  const migrations = await baselineMigrations();
  const ours = await createBenchDatabase(ctx.serverUrl, 'bench_wal', ctx.logger);
  const old = await createBenchDatabase(
    ctx.serverUrl,
    `bench_wal_${BASELINE_COMMIT}`,
    ctx.logger,
    migrations.dir,
  );
  await migrations.cleanup();
  const inspect = (await prepareWal(ours.pool)) && (await prepareWal(old.pool));
  if (!inspect)
    console.log('  w: no pg_walinspect on this server: bytes from the insert positions');
  const models: Model[] = [
    {
      label: 'event log',
      pool: ours.pool,
      inspect,
      tables: ['orders', 'outbox', 'notifications', 'outbox_subscriptions', 'outbox_parked'],
      async start() {
        const service = await startBenchService(ours.url, SERVICE_PORT, serviceEnv(ctx));
        return {
          drained: (range) => waitDrained(ours.pool, range, DRAIN_TIMEOUT_MS),
          stop: () => service.stop(),
        };
      },
    },
    {
      label: BASELINE_COMMIT,
      pool: old.pool,
      inspect,
      tables: ['orders', 'outbox', 'notifications'],
      async start() {
        const dispatcher = await startBaselineDispatcher(old.url, ctx.concurrency);
        return {
          drained: (range) => waitBaselineDrained(old.pool, dispatcher, range, DRAIN_TIMEOUT_MS),
          stop: () => dispatcher.stop(),
        };
      },
    },
  ];
  try {
    for (const m of models) await prepare(m);
    // samples[model][writers] = one per run
    const samples = models.map(() => WRITERS.map(() => [] as WalSample[]));
    await ctx.repeat(async (run) => {
      // Alternate which model goes first, so that neither always follows the other.
      const order = run % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const model = models[i]!;
        const dispatcher = await model.start();
        try {
          for (const [j, w] of WRITERS.entries()) {
            samples[i]![j]!.push(
              await measureAt(model, dispatcher.drained, w, size.walEvents, size.walWarmup),
            );
          }
        } finally {
          await dispatcher.stop();
        }
      }
    });
    for (const [j, w] of WRITERS.entries()) {
      const outboxPart: number[] = [];
      for (const [i, model] of models.entries()) {
        const s = samples[i]![j]!;
        const fig = (name: string, unit: string, pick: (x: WalSample) => number) =>
          ctx.record('w wal', `${model.label}, ${w} writer(s): ${name}`, unit, s.map(pick));
        fig('captured + handled, total (b)', 'B/event', (x) => x.handled.bytes);
        fig('of which the VACUUM after', 'B/event', (x) => x.vacuum.bytes);
        fig('of which full-page images', 'B/event', (x) => x.handled.fpiBytes);
        fig('bare UPDATE, triggers off (a)', 'B/event', (x) => x.bare.bytes);
        fig('notifications insert alone (c)', 'B/event', (x) => x.effect.bytes);
        outboxPart.push(fig('outbox part (b - a - c)', 'B/event', (x) => x.outbox.bytes));
        fig('outbox part (b - a - c)', 'records/event', (x) => x.outbox.records);
        ctx.note(`wal ${model.label}, ${w} writer(s): bytes per event by resource manager`, {
          handled: s.map((x) => x.handled.byRmgr),
          outboxPart: s.map((x) => x.outbox.byRmgr),
        });
      }
      ctx.goal(
        atMost(
          `WAL outbox part at ${w} writer(s): event log / ${BASELINE_COMMIT}`,
          outboxPart[0]!,
          outboxPart[1]!,
          0.5,
        ),
      );
    }
  } finally {
    await ours.pool.end();
    await old.pool.end();
  }
}
