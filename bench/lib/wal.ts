// WAL written by the whole cluster between two points, exactly: the WAL insert position
// (pg_current_wal_insert_lsn) marks each point, and pg_walinspect's pg_get_wal_stats() sums the
// records in between (count, bytes, full-page-image bytes, per resource manager): the quantities
// pg_stat_wal counts as wal_records and wal_bytes. pg_stat_wal itself cannot be read around a
// window of seconds: PostgreSQL 15 publishes a backend's counters at most once a second, and a
// backend that goes idle within that second publishes them only 10 s later
// (pgstat_report_stat(), PGSTAT_IDLE_INTERVAL); read 1.5 s after the work, its deltas were 12-26 %
// off the insert positions'. Without pg_walinspect (a server without the contrib module) the bytes
// come from the insert positions (page headers included, ~0.3 % more) and records are n/a.
import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

export interface WalDelta {
  /** Bytes of WAL records (full-page images included). */
  bytes: number;
  records: number;
  /** Of `bytes`, full-page images. */
  fpiBytes: number;
  /** Bytes per resource manager (Heap, Heap2, Btree, Transaction, ...). */
  byRmgr: Record<string, number>;
}

/** Sets up a bench database for WAL windows; returns whether pg_walinspect is there. */
export async function prepareWal(db: Db): Promise<boolean> {
  // A durable commit after a window's end makes the WAL up to it flushed (pg_walinspect reads only
  // flushed WAL).
  await db.query('create table if not exists bench_wal_mark (at timestamptz default now())');
  try {
    await db.query('create extension if not exists pg_walinspect');
    return true;
  } catch {
    return false;
  }
}

/** The current WAL insert position. */
export async function walPosition(db: Db): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>(
    'select pg_current_wal_insert_lsn()::text as lsn',
  );
  return rows[0]!.lsn;
}

/** The WAL between two positions (prepareWal first). */
export async function walBetween(
  db: Db,
  from: string,
  to: string,
  inspect: boolean,
): Promise<WalDelta> {
  if (!inspect) {
    const { rows } = await db.query<{ diff: string }>(
      'select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::text as diff',
      [from, to],
    );
    return { bytes: Number(rows[0]!.diff), records: NaN, fpiBytes: NaN, byRmgr: {} };
  }
  await db.query('insert into bench_wal_mark default values');
  const { rows } = await db.query<{ rmgr: string; n: string; bytes: string; fpi: string }>(
    `select "resource_manager/record_type" as rmgr, count::text as n,
            combined_size::text as bytes, fpi_size::text as fpi
       from pg_get_wal_stats($1::pg_lsn, $2::pg_lsn, false)
      where count > 0`,
    [from, to],
  );
  const delta: WalDelta = { bytes: 0, records: 0, fpiBytes: 0, byRmgr: {} };
  for (const r of rows) {
    delta.bytes += Number(r.bytes);
    delta.records += Number(r.n);
    delta.fpiBytes += Number(r.fpi);
    delta.byRmgr[r.rmgr] = Number(r.bytes);
  }
  return delta;
}

/** A delta divided by a count of events. */
export function perEvent(d: WalDelta, events: number): WalDelta {
  return {
    bytes: d.bytes / events,
    records: d.records / events,
    fpiBytes: d.fpiBytes / events,
    byRmgr: Object.fromEntries(Object.entries(d.byRmgr).map(([k, v]) => [k, v / events])),
  };
}

export function minus(a: WalDelta, ...bs: WalDelta[]): WalDelta {
  const byRmgr = { ...a.byRmgr };
  for (const b of bs) {
    for (const [k, v] of Object.entries(b.byRmgr)) byRmgr[k] = (byRmgr[k] ?? 0) - v;
  }
  return {
    bytes: bs.reduce((acc, b) => acc - b.bytes, a.bytes),
    records: bs.reduce((acc, b) => acc - b.records, a.records),
    fpiBytes: bs.reduce((acc, b) => acc - b.fpiBytes, a.fpiBytes),
    byRmgr,
  };
}
