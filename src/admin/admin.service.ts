import type pg from 'pg';
import { AppError } from '../app-error';
import { withTransaction } from '../db/pool';
import { readOutboxGauges } from '../outbox/sql/stats';
import {
  capturedLastMinute,
  countInRange,
  deliveriesOf,
  findEvent,
  insertReplayCopies,
  listEvents,
  notifyOutbox,
  type AdminEventRow,
  type DeliveryRow,
} from './admin.repo';
import type {
  Delivery,
  ListOutboxQuery,
  OutboxRowDetail,
  OutboxRowSummary,
  OutboxStats,
  ReplayBody,
  ReplayResult,
} from './admin.schema';
import {
  matchParked,
  notifySubscriptionsChanged,
  retryParked,
  skipParked,
} from './subscriptions.repo';
import { MAX_PARKED_ACTION } from './subscriptions.schema';

/** More than this in one replay is refused: narrow the range (bounds one transaction's size). */
export const MAX_REPLAY = 10_000;

export interface AdminService {
  list(q: ListOutboxQuery): Promise<{ items: OutboxRowSummary[]; nextBefore: string | null }>;
  get(id: string): Promise<OutboxRowDetail>;
  retry(id: string): Promise<OutboxRowDetail>;
  /** Gives up the event's parked deliveries (dead or retrying) in every subscription. */
  skip(id: string): Promise<OutboxRowDetail>;
  replay(body: ReplayBody): Promise<ReplayResult>;
  stats(): Promise<OutboxStats>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The worst state first: an event is as done as its least done delivery. */
const STATE_ORDER: Delivery['state'][] = ['dead', 'retrying', 'pending', 'done'];

function summary(r: AdminEventRow, deliveries: DeliveryRow[]): OutboxRowSummary {
  const mine = deliveries
    .filter((d) => d.event_id === r.id)
    .map((d): Delivery => ({
      subscription: d.subscription,
      state: d.state,
      attempts: d.attempts,
      lastError: d.last_error,
      nextAttemptAt: iso(d.next_attempt_at),
    }));
  const status = STATE_ORDER.find((s) => mine.some((d) => d.state === s)) ?? 'done';
  return {
    id: r.id,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    type: r.event_type,
    status,
    createdAt: r.created_at.toISOString(),
    replayOf: r.replay_of,
    deliveries: mine,
  };
}

export function createAdminService({ pool }: { pool: pg.Pool }): AdminService {
  async function detail(id: string): Promise<OutboxRowDetail> {
    const row = await findEvent(pool, id);
    if (!row) throw AppError.notFound(`outbox event ${id} does not exist`);
    return { ...summary(row, await deliveriesOf(pool, [id])), payload: row.payload };
  }

  /**
   * Retry: its dead deliveries back in line (tries from zero, due now, or waiting behind an earlier
   * parked event of its aggregate). Skip: its parked deliveries given up. 409 when there is none.
   */
  async function actOnParked(id: string, action: 'retry' | 'skip'): Promise<OutboxRowDetail> {
    const acted = await withTransaction(pool, async (tx) => {
      const matched = await matchParked(
        tx,
        {
          eventId: id,
          state: action === 'retry' ? 'dead' : undefined,
          limit: MAX_PARKED_ACTION,
          dryRun: false,
        },
        action === 'retry',
      );
      for (const m of matched) {
        if (action === 'retry') await retryParked(tx, m.subscription, [id]);
        else await skipParked(tx, m.subscription, [id]);
      }
      if (matched.length > 0) await notifySubscriptionsChanged(tx);
      return matched.length;
    });
    if (acted > 0) return detail(id);
    const existing = await detail(id);
    throw new AppError(
      'conflict',
      action === 'retry'
        ? `outbox event ${id} is dead in no subscription (it is ${existing.status}); only a dead delivery can be retried`
        : `outbox event ${id} is parked in no subscription (it is ${existing.status}); only a parked delivery can be skipped`,
    );
  }

  return {
    async list(q) {
      const rows = await listEvents(pool, q);
      const deliveries = await deliveriesOf(
        pool,
        rows.map((r) => r.id),
      );
      return {
        items: rows.map((r) => summary(r, deliveries)),
        nextBefore: rows.length === q.limit ? rows[rows.length - 1]!.id : null,
      };
    },

    get: detail,

    retry: (id) => actOnParked(id, 'retry'),
    skip: (id) => actOnParked(id, 'skip'),

    async replay({ dryRun, ...range }) {
      return withTransaction(pool, async (tx) => {
        const matched = await countInRange(tx, range);
        if (dryRun) return { dryRun, matched, replayed: 0, ids: [] };
        if (matched > MAX_REPLAY) {
          throw new AppError(
            'validation_error',
            `the range holds ${matched} events; replay at most ${MAX_REPLAY} at a time`,
            [{ path: '(body)', message: 'narrow the range' }],
          );
        }
        const ids = await insertReplayCopies(tx, range);
        if (ids.length > 0) await notifyOutbox(tx);
        return { dryRun, matched, replayed: ids.length, ids };
      });
    },

    async stats() {
      const [gauges, lastMinute] = await Promise.all([
        readOutboxGauges(pool),
        capturedLastMinute(pool),
      ]);
      return {
        counts: { pending: gauges.pending, retrying: gauges.retrying, dead: gauges.dead },
        lagSeconds: gauges.lagSeconds,
        subscriptions: gauges.subscriptions.map((s) => ({
          ...s,
          backoffUntil: iso(s.backoffUntil),
        })),
        throughput: { lastMinute, perSecond: Math.round((lastMinute / 60) * 100) / 100 },
      };
    },
  };
}
