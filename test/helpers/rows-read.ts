import type pg from 'pg';

type Db = Pick<pg.ClientBase, 'query'>;

/** What one backend read while a piece of work ran: rows of each table, entries of each index. */
export interface Reads {
  /** Per table: rows read by sequential scans, and rows fetched through any of its indexes. */
  tables: Record<string, { seq: number; fetched: number }>;
  /** Per index: entries the index scans returned. */
  indexes: Record<string, number>;
}

async function readCounters(db: Db, tables: string[], indexes: string[]): Promise<Reads> {
  const { rows } = await db.query<{
    tables: { name: string; seq: number; fetched: number }[];
    indexes: { name: string; returned: number }[];
  }>(
    `select (select coalesce(json_agg(json_build_object(
                      'name', relname, 'seq', seq_tup_read, 'fetched', coalesce(idx_tup_fetch, 0))), '[]')
               from pg_stat_xact_user_tables where relname = any ($1::text[])) as tables,
            (select coalesce(json_agg(json_build_object(
                      'name', c.relname, 'returned', pg_stat_get_xact_tuples_returned(c.oid))), '[]')
               from pg_class c
              where c.relname = any ($2::text[]) and c.relkind = 'i'
                and c.relnamespace = 'public'::regnamespace) as indexes`,
    [tables, indexes],
  );
  const reads: Reads = { tables: {}, indexes: {} };
  for (const t of rows[0]!.tables) reads.tables[t.name] = { seq: t.seq, fetched: t.fetched };
  // There is no pg_stat_xact_user_indexes view: an index's returned entries is its idx_tup_read.
  for (const i of rows[0]!.indexes) reads.indexes[i.name] = i.returned;
  return reads;
}

/**
 * Runs `work` inside a transaction of `client` and returns what this backend read meanwhile, from
 * its own statistics (pg_stat_get_xact_*), not timed: exact and independent of the machine's
 * load. A transaction, because PostgreSQL flushes a backend's pending counters only between
 * transactions; the difference of two readings inside one is exactly what `work` read.
 * `work` commits with the transaction (it may write).
 */
export async function readsDuring<T>(
  client: Db,
  relations: { tables: string[]; indexes: string[] },
  work: () => Promise<T>,
): Promise<{ value: T; reads: Reads }> {
  await client.query('begin');
  try {
    const before = await readCounters(client, relations.tables, relations.indexes);
    const value = await work();
    const after = await readCounters(client, relations.tables, relations.indexes);
    await client.query('commit');
    const reads: Reads = { tables: {}, indexes: {} };
    for (const t of relations.tables) {
      reads.tables[t] = {
        seq: (after.tables[t]?.seq ?? 0) - (before.tables[t]?.seq ?? 0),
        fetched: (after.tables[t]?.fetched ?? 0) - (before.tables[t]?.fetched ?? 0),
      };
    }
    for (const i of relations.indexes) {
      reads.indexes[i] = (after.indexes[i] ?? 0) - (before.indexes[i] ?? 0);
    }
    return { value, reads };
  } catch (err) {
    await client.query('rollback');
    throw err;
  }
}
