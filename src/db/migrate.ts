import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../observability/logger';
import { checksumMatches, migrationChecksum } from './migration-checksum';

export const MIGRATIONS_DIR = path.resolve(__dirname, '../../db/migrations');
export const SEED_DIR = path.resolve(__dirname, '../../db/seed');

/** Any constant shared by all instances: two services starting at once migrate one after the other. */
const MIGRATION_LOCK_KEY = 7_290_317_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** Of the statements only: editing comments or layout does not change it (migration-checksum.ts). */
  checksum: string;
}

async function readSqlFiles(dir: string): Promise<{ name: string; sql: string }[]> {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => ({ name, sql: await readFile(path.join(dir, name), 'utf8') })),
  );
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  return (await readSqlFiles(dir)).map(({ name, sql }) => {
    const match = /^(\d+)_.+\.sql$/.exec(name);
    if (!match) throw new Error(`migration file ${name} must be named NNNN_description.sql`);
    return {
      version: Number(match[1]),
      name,
      sql,
      checksum: migrationChecksum(sql),
    };
  });
}

/**
 * Applies the migrations not yet recorded in schema_migrations, each in its own transaction, under
 * an advisory lock. Running it again is a no-op. Returns the names it applied.
 */
export async function migrate(
  pool: pg.Pool,
  logger: Logger,
  dir = MIGRATIONS_DIR,
): Promise<string[]> {
  const migrations = await loadMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    // The pool's statement timeout guards requests; a migration (an index on a large outbox) or a
    // wait for another instance's migration may rightly take longer.
    await client.query('set statement_timeout = 0');
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`
      create table if not exists schema_migrations (
        version int primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      'select version, name, checksum from schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    for (const m of migrations) {
      const previous = done.get(m.version);
      if (previous) {
        if (!checksumMatches(previous.checksum, m.sql)) {
          logger.warn(
            { migration: m.name },
            "an applied migration's statements were edited since; migrations are forward-only, add a new one",
          );
        }
        continue;
      }
      await client.query('begin');
      try {
        await client.query(
          'insert into schema_migrations (version, name, checksum) values ($1, $2, $3)',
          [m.version, m.name, m.checksum],
        );
        await client.query(m.sql);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.name);
      logger.info({ migration: m.name }, 'migration applied');
    }
  } finally {
    await client
      .query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      .catch(() => undefined);
    await client.query('reset statement_timeout').catch(() => undefined);
    client.release();
  }
  return applied;
}

/** The highest migration version in db/migrations; readiness requires the database to have it. */
export async function latestMigrationVersion(dir = MIGRATIONS_DIR): Promise<number> {
  const migrations = await loadMigrations(dir);
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/** Applies db/seed/*.sql in one transaction. The seed files are idempotent. */
export async function seed(pool: pg.Pool, logger: Logger, dir = SEED_DIR): Promise<void> {
  const files = await readSqlFiles(dir);
  const client = await pool.connect();
  try {
    await client.query('begin');
    for (const f of files) await client.query(f.sql);
    await client.query('commit');
    logger.info({ files: files.map((f) => f.name) }, 'seed data applied');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
