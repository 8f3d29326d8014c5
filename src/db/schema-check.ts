import type pg from 'pg';
import type { Logger } from '../observability/logger';
import { loadMigrations, migrate, MIGRATIONS_DIR } from './migrate';

const UNDEFINED_TABLE = '42P01';
const INSUFFICIENT_PRIVILEGE = '42501';

/** The versions recorded in schema_migrations; none when the table does not exist yet. */
export async function appliedMigrationVersions(pool: pg.Pool): Promise<Set<number>> {
  try {
    const { rows } = await pool.query<{ version: number }>('select version from schema_migrations');
    return new Set(rows.map((r) => r.version));
  } catch (err) {
    // A database never migrated: everything is pending.
    if ((err as { code?: unknown }).code === UNDEFINED_TABLE) return new Set();
    throw err;
  }
}

function isPermissionError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === INSUFFICIENT_PRIVILEGE) return true;
  }
  return false;
}

/**
 * Migrates only when a migration file is not yet applied. A service running as the
 * least-privileged application role (db/roles/) may not create or alter anything: it starts on a
 * database the schema owner has migrated, and otherwise stops with a message saying what to do.
 */
export async function ensureSchema(
  pool: pg.Pool,
  logger: Logger,
  dir = MIGRATIONS_DIR,
): Promise<void> {
  const applied = await appliedMigrationVersions(pool);
  const pending = (await loadMigrations(dir)).filter((m) => !applied.has(m.version));
  if (pending.length === 0) {
    logger.debug('schema is current; nothing to migrate');
    return;
  }
  try {
    await migrate(pool, logger, dir);
  } catch (err) {
    if (!isPermissionError(err)) throw err;
    throw new Error(
      `migrations ${pending.map((m) => m.name).join(', ')} are not applied and this database ` +
        `role may not apply them: start the service once with the schema owner's DATABASE_URL ` +
        `(it migrates, and never seeds), then again as this role`,
      { cause: err },
    );
  }
}
