import type pg from 'pg';

// The statements of the subscriptions table (migration 0050): declaring them, their leases, their
// back-off. Each runs one function or one statement; the SQL is in the migration where it is more
// than a line.

type Db = Pick<pg.Pool, 'query'>;

/** How a subscription's effects happen (src/outbox/handler.ts). */
export type SubscriptionKind = 'sql' | 'transactional' | 'external';

/** What the service's configuration says a subscription is. */
export interface SubscriptionDeclaration {
  name: string;
  kind: SubscriptionKind;
  /** '*': every event type. */
  eventTypes: readonly string[] | '*';
  /**
   * Names it was known by before (e.g. a webhook named after its URL's path by the per-event
   * outbox): a subscription still under one of them is renamed, keeping its position and parked
   * events, unless one with the new name exists already.
   */
  formerNames?: readonly string[];
}

/** Where a subscription created now starts: at the end of the log, or at the oldest event kept. */
export type SubscriptionStart = 'now' | 'beginning';

/** An empty snapshot: nothing is visible in it, so a position there owes every event retained. */
const BEGINNING = '1:1:';

/**
 * Creates the declared subscriptions that do not exist (starting `start`) and sets the kind and
 * event types of those that do. Never moves a position, never deletes a subscription: one that the
 * configuration no longer declares keeps its position and lags, visibly, until an operator acts.
 * Returns the names created.
 */
export async function declareSubscriptions(
  db: Db,
  declared: readonly SubscriptionDeclaration[],
  start: SubscriptionStart,
): Promise<string[]> {
  for (const d of declared) {
    for (const former of d.formerNames ?? []) {
      await db.query({
        text: `update outbox_subscriptions set name = $2, updated_at = now()
                where name = $1
                  and not exists (select 1 from outbox_subscriptions where name = $2)`,
        values: [former, d.name],
      });
    }
  }
  // Two statements, not an upsert: an upsert locks the existing row even to change nothing, and
  // that row is locked for as long as its holder's chunk runs (outbox_check_lease), so a new
  // instance would wait for it at start. An UPDATE whose WHERE is false on the current version
  // takes no lock.
  const values = [
    declared.map((d) => d.name),
    declared.map((d) => d.kind),
    declared.map((d) => toPgArray(d.eventTypes === '*' ? ['*'] : d.eventTypes)),
  ];
  const { rows } = await db.query<{ name: string }>({
    text: `insert into outbox_subscriptions (name, kind, event_types, origin, snapshot)
           select d.name, d.kind, nullif(d.types::text[], '{*}'), start.at, start.at
             from unnest($1::text[], $2::text[], $3::text[]) as d(name, kind, types)
             cross join (select case when $4 = 'beginning' then $5::pg_snapshot
                                     else pg_current_snapshot() end as at) start
           on conflict (name) do nothing
           returning name`,
    values: [...values, start, BEGINNING],
  });
  await db.query({
    text: `update outbox_subscriptions s
              set kind = d.kind, event_types = nullif(d.types::text[], '{*}'), updated_at = now()
             from unnest($1::text[], $2::text[], $3::text[]) as d(name, kind, types)
            where s.name = d.name
              and (s.kind, s.event_types) is distinct from (d.kind, nullif(d.types::text[], '{*}'))`,
    values,
  });
  return rows.map((r) => r.name);
}

/** A text[] literal ('{"a","b"}'): unnest() cannot take an array of arrays of differing lengths. */
function toPgArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/**
 * Takes a subscription's lease when it is free or its holder's ran out. Returns the fencing
 * token, or undefined when another instance holds it.
 */
export async function acquireLease(
  db: Db,
  args: { name: string; holder: string; leaseMs: number },
): Promise<string | undefined> {
  const { rows } = await db.query<{ token: string | null }>({
    text: `select outbox_acquire($1, $2, $3) as token`,
    values: [args.name, args.holder, args.leaseMs],
  });
  return rows[0]?.token ?? undefined;
}

/** Extends the lease; false when it is no longer ours (taken over after it ran out). */
export async function renewLease(
  db: Db,
  args: { name: string; token: string; leaseMs: number },
): Promise<boolean> {
  const { rows } = await db.query<{ renewed: boolean }>({
    text: `select outbox_renew($1, $2, $3) as renewed`,
    values: [args.name, args.token, args.leaseMs],
  });
  return rows[0]?.renewed === true;
}

/** Gives the lease back (a clean stop), so that another instance takes over at once. */
export async function releaseLease(db: Db, args: { name: string; token: string }): Promise<void> {
  await db.query({
    text: `select outbox_release($1, $2)`,
    values: [args.name, args.token],
  });
}

/**
 * Every call of the subscription's last try failed: it backs off as a whole (jittered, on its
 * consecutive failures) and the next try of the same events is counted. Returns until when.
 */
export async function backOffSubscription(
  db: Db,
  args: { name: string; token: string; error: string; baseMs: number; maxMs: number },
): Promise<Date> {
  const { rows } = await db.query<{ until: Date }>({
    text: `select outbox_back_off($1, $2, $3, $4, $5) as until`,
    values: [args.name, args.token, args.error, args.baseMs, args.maxMs],
  });
  return rows[0]!.until;
}

/** What a lane needs to know of its subscription when it takes it over. */
export interface SubscriptionState {
  state: 'active' | 'paused' | 'backing_off';
  backoffUntil: Date | null;
  nextRetryAt: Date | null;
}

export async function readSubscriptionState(
  db: Db,
  name: string,
): Promise<SubscriptionState | undefined> {
  const { rows } = await db.query<{
    state: SubscriptionState['state'];
    backoff_until: Date | null;
    next_retry_at: Date | null;
  }>({
    text: `select state, backoff_until, outbox_next_retry_at(name) as next_retry_at
             from outbox_subscriptions where name = $1`,
    values: [name],
  });
  const row = rows[0];
  return (
    row && { state: row.state, backoffUntil: row.backoff_until, nextRetryAt: row.next_retry_at }
  );
}
