import type pg from 'pg';

export type AdvisoryLockResult<T> = { acquired: true; value: T } | { acquired: false };

/**
 * Runs fn on one connection while holding the session advisory lock `key`, if no other session
 * holds it; otherwise returns at once with { acquired: false }. Housekeeping that must run on one
 * instance at a time uses it: whoever gets the lock does the work, the others skip this round.
 *
 * A session lock (not a transaction lock) so that fn may commit as often as it likes (e.g. delete
 * in small batches, each its own transaction). If the unlock fails the connection is destroyed,
 * which releases the lock with it: a pooled connection must never go back holding a lock.
 */
export async function tryWithAdvisoryLock<T>(
  pool: pg.Pool,
  key: number | bigint,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<AdvisoryLockResult<T>> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1::bigint) as locked',
      [String(key)],
    );
    if (!rows[0]?.locked) return { acquired: false };
    try {
      return { acquired: true, value: await fn(client) };
    } finally {
      try {
        await client.query('select pg_advisory_unlock($1::bigint)', [String(key)]);
      } catch (err) {
        broken = err as Error;
      }
    }
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}
