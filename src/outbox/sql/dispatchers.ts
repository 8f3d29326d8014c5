import type pg from 'pg';

/**
 * Says whether this dispatcher is awake (it will claim again within `ttlMs`) or idle (asleep until
 * a NOTIFY or the fallback poll). The capture trigger reads the table and rings NOTIFY only when
 * no dispatcher is awake (db/migrations/0040_outbox_wakeup_gate.sql). An upsert, because the
 * table is unlogged: a database crash empties it while we run.
 */
export async function setDispatcherAwake(
  db: Pick<pg.Pool, 'query'>,
  args: { workerId: string; awake: boolean; ttlMs: number },
): Promise<void> {
  await db.query({
    name: 'outbox_dispatchers.set_awake',
    text: `insert into outbox_dispatchers (worker_id, awake_until)
           values ($1, case when $2::boolean then now() + $3 * interval '1 millisecond' end)
           on conflict (worker_id) do update
              set awake_until = excluded.awake_until,
                  backend_pid = pg_backend_pid(),
                  updated_at = now()`,
    values: [args.workerId, args.awake, args.ttlMs],
  });
}

/** Forgets this dispatcher (on stop): with no one awake, writers ring NOTIFY again. */
export async function removeDispatcher(
  db: Pick<pg.Pool, 'query'>,
  workerId: string,
): Promise<void> {
  await db.query({
    name: 'outbox_dispatchers.remove',
    text: `delete from outbox_dispatchers where worker_id = $1`,
    values: [workerId],
  });
}
