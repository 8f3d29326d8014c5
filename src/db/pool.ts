import pg from 'pg';
import type { Logger } from '../observability/logger';

// bigint ids (outbox.id) come back as strings by default; keep it that way (exact), but parse
// int8 counts explicitly where needed. jsonb and timestamptz are parsed by pg already.

export interface PoolOptions {
  connectionString: string;
  max: number;
  logger: Logger;
  /** Shown in pg_stat_activity, so an operator can tell our connections apart. */
  applicationName?: string;
  /** Longest wait for a connection (pool exhausted, or the database unreachable); 0: forever. */
  connectTimeoutMs?: number;
  /** Longest any one statement may run, lock waits included; 0: forever. */
  statementTimeoutMs?: number;
  /** synchronous_commit of this pool's sessions; unset: the server's setting. */
  synchronousCommit?: string;
}

/** Defaults of PG_CONNECT_TIMEOUT_MS and PG_STATEMENT_TIMEOUT_MS (src/config/env.ts). */
export const POOL_TIMEOUTS = { connectTimeoutMs: 5_000, statementTimeoutMs: 10_000 } as const;

/**
 * The pool shared by the API and the dispatcher. Timeouts bound every wait: a request never hangs
 * on a database that is down or a pool that is exhausted; it fails and is answered with a 503.
 */
export function createPool({
  connectionString,
  max,
  logger,
  applicationName = 'outbox-service',
  connectTimeoutMs = POOL_TIMEOUTS.connectTimeoutMs,
  statementTimeoutMs = POOL_TIMEOUTS.statementTimeoutMs,
  synchronousCommit,
}: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    // Both errors are transient (src/db/errors.ts): the API answers 503 + Retry-After in at most
    // connectTimeoutMs + statementTimeoutMs per statement, never hangs.
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    options: synchronousCommit ? `-c synchronous_commit=${synchronousCommit}` : undefined,
    keepAlive: true,
  });
  // An idle client whose connection dies emits 'error' on the pool; without a listener the
  // process would crash. The pool discards that client by itself.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle database connection lost'));
  return pool;
}

/**
 * Runs fn on one checked-out client and releases it; a client whose connection broke meanwhile is
 * destroyed, not given back. fn may report a failure of the connection itself with `markBroken`.
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, markBroken: (err: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no error listener of the pool's: a connection killed between two
  // statements (the server shutting down: 57P01) would emit an unhandled 'error' and crash the
  // process. Keep it; the next statement fails, and release(broken) destroys the client.
  const markBroken = (err: Error) => {
    broken = err;
  };
  client.on('error', markBroken);
  try {
    return await fn(client, markBroken);
  } finally {
    client.removeListener('error', markBroken);
    client.release(broken);
  }
}

/** Runs fn in a transaction on one client; rolls back on error and destroys a broken client. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    try {
      await client.query('begin');
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      try {
        await client.query('rollback');
      } catch (rollbackErr) {
        // The connection itself failed; release(err) makes the pool destroy it.
        markBroken(rollbackErr as Error);
      }
      throw err;
    }
  });
}
