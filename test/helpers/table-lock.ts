import type pg from 'pg';

/**
 * Holds a SHARE lock on `table` in an open transaction until release(): every INSERT into it
 * waits. Tests use it to freeze the built-in subscription (whose effect inserts into
 * notifications) in the middle of a chunk.
 */
export async function holdTableLock(
  pool: pg.Pool,
  table: string,
): Promise<{ release(): Promise<void> }> {
  const client = await pool.connect();
  await client.query('begin');
  await client.query(`lock table ${client.escapeIdentifier(table)} in share mode`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await client.query('rollback');
      } finally {
        client.release();
      }
    },
  };
}

/** True when a connection of the service waits on a lock (its batch is stuck mid-way). */
export async function serviceWaitsOnLock(pool: pg.Pool): Promise<boolean> {
  const { rowCount } = await pool.query(
    `select 1 from pg_stat_activity
      where datname = current_database() and application_name = 'outbox-service'
        and wait_event_type = 'Lock'`,
  );
  return (rowCount ?? 0) > 0;
}
