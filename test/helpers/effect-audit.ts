import type pg from 'pg';

/**
 * Records every insert into `notifications` that commits, in a table without a unique key.
 * notifications.event_id is unique and the built-in effect says `on conflict do nothing`, so a
 * second delivery of an event could never show there; a BEFORE trigger sees each attempt, and
 * its row commits (or rolls back) with the attempt's transaction. Counting it is what would
 * change if the built-in subscription delivered an event twice.
 */
export async function auditNotificationInserts(pool: Pick<pg.Pool, 'query'>): Promise<void> {
  await pool.query(`
    create table notification_inserts (
      event_id bigint not null,
      at timestamptz not null default clock_timestamp(),
      by_pid int not null default pg_backend_pid());
    create function tg_audit_notification_insert() returns trigger
    language plpgsql set search_path = pg_catalog, public, pg_temp as $$
    begin
      insert into public.notification_inserts (event_id) values (new.event_id);
      return new;
    end $$;
    create trigger _000_audit_insert before insert on notifications
      for each row execute function tg_audit_notification_insert();`);
}

/** Committed insert attempts per event: event ids attempted more than once, and the total. */
export async function notificationInserts(
  pool: Pick<pg.Pool, 'query'>,
): Promise<{ total: number; twice: string[]; first: Date | null }> {
  const { rows } = await pool.query<{ event_id: string; n: string; first: Date }>(
    `select event_id, count(*) as n, min(at) as first from notification_inserts group by event_id`,
  );
  return {
    total: rows.reduce((t, r) => t + Number(r.n), 0),
    twice: rows.filter((r) => Number(r.n) > 1).map((r) => r.event_id),
    first: rows.length ? new Date(Math.min(...rows.map((r) => r.first.getTime()))) : null,
  };
}
