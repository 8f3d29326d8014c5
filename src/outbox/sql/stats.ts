import type pg from 'pg';

/** One subscription as the gauges, the live page and the admin API show it. */
export interface SubscriptionGauge {
  name: string;
  kind: string;
  state: 'active' | 'paused' | 'backing_off';
  /** The instance holding its lease (worker id), while the lease runs. */
  holder: string | null;
  backoffUntil: Date | null;
  lastError: string | null;
  /** Events after its position (of every type), counted up to BACKLOG_CAP. */
  behind: number;
  /** Age of the oldest event after its position; 0 when none. */
  lagSeconds: number;
  /** Parked events being retried (or waiting behind one), and dead ones. */
  retrying: number;
  dead: number;
}

export interface OutboxGaugeRow {
  subscriptions: SubscriptionGauge[];
  /** The largest lag of any subscription, in seconds. */
  lagSeconds: number;
  /** The largest backlog of any subscription (events after its position, up to BACKLOG_CAP). */
  pending: number;
  retrying: number;
  dead: number;
}

/** Backlogs are counted up to this: a scrape must stay cheap however far a subscription lags. */
export const BACKLOG_CAP = 10_000;

/**
 * Every subscription's position, lag and parked counts, for metrics, readiness and the live page.
 * The lag and backlog come from outbox_subscription_backlog() (index range scans from the position,
 * at most BACKLOG_CAP rows), the parked counts from outbox_parked's indexes.
 */
export async function readOutboxGauges(db: Pick<pg.Pool, 'query'>): Promise<OutboxGaugeRow> {
  const { rows } = await db.query<{
    name: string;
    kind: string;
    state: SubscriptionGauge['state'];
    holder: string | null;
    backoff_until: Date | null;
    last_error: string | null;
    behind: string;
    lag_seconds: number | null;
    retrying: string;
    dead: string;
  }>({
    text: `select s.name, s.kind, s.state,
                  case when s.lease_until > now() then s.lease_holder end as holder,
                  s.backoff_until, s.last_error, b.behind,
                  extract(epoch from now() - b.oldest)::float8 as lag_seconds,
                  (select count(*) from outbox_parked p
                    where p.subscription = s.name and p.state = 'retrying') as retrying,
                  (select count(*) from outbox_parked p
                    where p.subscription = s.name and p.state = 'dead') as dead
             from outbox_subscriptions s
             cross join lateral outbox_subscription_backlog(s, $1) b
            order by s.name`,
    values: [BACKLOG_CAP],
  });
  const subscriptions = rows.map((r) => ({
    name: r.name,
    kind: r.kind,
    state: r.state,
    holder: r.holder,
    backoffUntil: r.backoff_until,
    lastError: r.last_error,
    behind: Number(r.behind),
    lagSeconds: Math.max(0, r.lag_seconds ?? 0),
    retrying: Number(r.retrying),
    dead: Number(r.dead),
  }));
  return {
    subscriptions,
    lagSeconds: Math.max(0, ...subscriptions.map((s) => s.lagSeconds)),
    pending: Math.max(0, ...subscriptions.map((s) => s.behind)),
    retrying: subscriptions.reduce((n, s) => n + s.retrying, 0),
    dead: subscriptions.reduce((n, s) => n + s.dead, 0),
  };
}
