// "Today's" outbox as commit c0c2466 had it, for side-by-side measurements: its schema (our
// migrations up to 0046, unchanged since but for comments) and a replay of its built-in
// dispatcher's work in SQL (c0c2466-batch.sql), with no application code of that commit.
//
// What the replay keeps of c0c2466's dispatcher (src/outbox/process-batch.ts there,
// processOneStatementBatch): `concurrency` loops, each running the one statement on its own
// connection in autocommit, with batches of up to 500 (OUTBOX_BATCH_SIZE) and
// synchronous_commit=off (OUTBOX_SYNCHRONOUS_COMMIT's default then); a loop whose claim came back
// short claims again 10 ms later (AWAKE_WATCH_MS, the watcher's period while writers keep it
// awake). The wake-up flag says "awake" for the whole run, so writers never NOTIFY, as under load
// with the service running (NOTIFY writes no WAL either way). What it leaves out writes no WAL per
// event: the lease renewals of the flag (an unlogged table), metrics and the live page.
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR } from '../../src/db/migrate';
import type { IdRange } from '../lib/bench-db';

export const BASELINE_COMMIT = 'c0c2466';
/** The last migration of c0c2466; 0047 (items' price) came after it, 0050 is the event log. */
const LAST_MIGRATION = 46;
const BATCH_SIZE = 500;
const WATCH_MS = 10;

/** A temporary directory with db/migrations up to 0046. Remove it with `cleanup`. */
export async function baselineMigrations(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `outbox-bench-${BASELINE_COMMIT}-`));
  for (const name of await readdir(MIGRATIONS_DIR)) {
    const version = Number(/^(\d+)_.+\.sql$/.exec(name)?.[1]);
    if (version <= LAST_MIGRATION) {
      await copyFile(path.join(MIGRATIONS_DIR, name), path.join(dir, name));
    }
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The one statement of a built-in batch at c0c2466 (see the file's header). */
export async function baselineBatchSql(): Promise<string> {
  return readFile(path.join(__dirname, `${BASELINE_COMMIT}-batch.sql`), 'utf8');
}

export interface BaselineDispatcher {
  /** Batches run and events handled so far. */
  readonly batches: number;
  readonly handled: number;
  /** The error that stopped a loop, if one did. */
  readonly error: Error | undefined;
  /** Stops the loops; throws the error that stopped one, if any. */
  stop(): Promise<void>;
}

/** Starts the replay of c0c2466's dispatcher on `url` (a database migrated up to 0046). */
export async function startBaselineDispatcher(
  url: string,
  concurrency: number,
): Promise<BaselineDispatcher> {
  const sql = await baselineBatchSql();
  const pool = new pg.Pool({
    connectionString: url,
    max: concurrency,
    options: '-c synchronous_commit=off',
  });
  pool.on('error', () => undefined);
  await pool.query(
    `insert into outbox_dispatchers (worker_id, awake_until) values ('bench-replay', 'infinity')
     on conflict (worker_id) do update set awake_until = 'infinity'`,
  );
  const state = { batches: 0, handled: 0, stopping: false, error: undefined as Error | undefined };
  const loops = Array.from({ length: concurrency }, async () => {
    try {
      while (!state.stopping) {
        const { rows } = await pool.query<{ id: string }>({
          text: `select * from outbox_run_batch($1, $2, $3) order by id`,
          values: [sql, BATCH_SIZE, new Date().toISOString()],
        });
        state.batches++;
        state.handled += rows.length;
        if (rows.length < BATCH_SIZE) await new Promise((r) => setTimeout(r, WATCH_MS));
      }
    } catch (err) {
      state.error ??= err as Error;
      state.stopping = true;
    }
  });
  return {
    get batches() {
      return state.batches;
    },
    get handled() {
      return state.handled;
    },
    get error() {
      return state.error;
    },
    async stop() {
      state.stopping = true;
      await Promise.all(loops);
      await pool.query(`delete from outbox_dispatchers where worker_id = 'bench-replay'`);
      await pool.end();
      if (state.error) throw state.error;
    },
  };
}

/** Waits until no event of `range` is open (pending or processing) in the c0c2466 schema. */
export async function waitBaselineDrained(
  pool: pg.Pool,
  dispatcher: BaselineDispatcher,
  range: IdRange,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (dispatcher.error) throw dispatcher.error;
    const { rows } = await pool.query<{ open: string; dead: string }>(
      `select count(*) filter (where status in ('pending', 'processing')) as open,
              count(*) filter (where status = 'dead') as dead
         from outbox where id between $1 and $2`,
      [range.from, range.to],
    );
    if (Number(rows[0]!.dead) > 0) throw new Error(`${BASELINE_COMMIT} replay: dead events`);
    if (Number(rows[0]!.open) === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${BASELINE_COMMIT} replay: ids ${range.from}-${range.to} still open`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
