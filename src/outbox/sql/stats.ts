import type pg from 'pg';

// Unnamed statements, planned with the table's current size each time (see src/outbox/sql/claim.ts).

export interface OutboxGaugeRow {
  pending: number;
  processing: number;
  dead: number;
  /** Age of the oldest open (pending or processing) event, in seconds; 0 when none is open. */
  lagSeconds: number;
}

/**
 * The cheap counts, for metrics, readiness and the live page. Each subquery is served by a partial
 * index (outbox_open_by_aggregate, outbox_dead; the lag by outbox_open, which only a query saying
 * "id > 0" can use: migration 0043), so the cost follows the open and dead rows, never the done
 * ones.
 * The oldest open event is the lowest open id (ids follow commit order per aggregate, and creation
 * order closely enough overall); events waiting for a retry count: they are not handled yet.
 */
export async function readOutboxGauges(db: Pick<pg.Pool, 'query'>): Promise<OutboxGaugeRow> {
  const { rows } = await db.query<{
    pending: string;
    processing: string;
    dead: string;
    lag_seconds: number | null;
  }>({
    text: `select
             (select count(*) from outbox where status = 'pending') as pending,
             (select count(*) from outbox where status = 'processing') as processing,
             (select count(*) from outbox where status = 'dead') as dead,
             (select extract(epoch from now() - created_at)::float8
                from outbox where status in ('pending', 'processing') and id > 0
               order by id limit 1) as lag_seconds`,
  });
  const row = rows[0]!;
  return {
    pending: Number(row.pending),
    processing: Number(row.processing),
    dead: Number(row.dead),
    lagSeconds: Math.max(0, row.lag_seconds ?? 0),
  };
}

/**
 * Every status counted, and the done rows of the last minute (outbox_done_processed_at). The done
 * count scans the done rows: for the admin API only, never for a scrape.
 */
export async function readOutboxStats(db: Pick<pg.Pool, 'query'>): Promise<{
  counts: Record<'pending' | 'processing' | 'done' | 'dead', number>;
  doneLastMinute: number;
}> {
  const { rows } = await db.query<{ status: string; n: string }>({
    text: `select status, count(*) as n from outbox group by status`,
  });
  const counts = { pending: 0, processing: 0, done: 0, dead: 0 };
  for (const r of rows) counts[r.status as keyof typeof counts] = Number(r.n);
  const recent = await db.query<{ n: string }>({
    text: `select count(*) as n from outbox
            where status = 'done' and processed_at > now() - interval '1 minute'`,
  });
  return { counts, doneLastMinute: Number(recent.rows[0]!.n) };
}
