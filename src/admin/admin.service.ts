import type pg from 'pg';
import { AppError } from '../app-error';
import { withTransaction } from '../db/pool';
import { readOutboxGauges, readOutboxStats } from '../outbox/sql/stats';
import {
  countDoneInRange,
  findOutboxRow,
  insertReplayCopies,
  listOutboxRows,
  notifyOutbox,
  retryDeadRow,
  type AdminOutboxRow,
} from './admin.repo';
import type {
  ListOutboxQuery,
  OutboxRowDetail,
  OutboxRowSummary,
  OutboxStats,
  ReplayBody,
  ReplayResult,
} from './admin.schema';

/** More than this in one replay is refused: narrow the range (bounds one transaction's size). */
export const MAX_REPLAY = 10_000;

export interface AdminService {
  list(q: ListOutboxQuery): Promise<{ items: OutboxRowSummary[]; nextBefore: string | null }>;
  get(id: string): Promise<OutboxRowDetail>;
  retry(id: string): Promise<OutboxRowDetail>;
  replay(body: ReplayBody): Promise<ReplayResult>;
  stats(): Promise<OutboxStats>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function summary(r: AdminOutboxRow): OutboxRowSummary {
  return {
    id: r.id,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    type: r.event_type,
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
    availableAt: r.available_at.toISOString(),
    processedAt: iso(r.processed_at),
    lastError: r.last_error,
    replayOf: r.replay_of,
  };
}

function detail(r: AdminOutboxRow): OutboxRowDetail {
  return {
    ...summary(r),
    payload: r.payload,
    lockedBy: r.locked_by,
    lockedUntil: iso(r.locked_until),
    deliveries: r.deliveries,
  };
}

export function createAdminService({ pool }: { pool: pg.Pool }): AdminService {
  return {
    async list(q) {
      const rows = await listOutboxRows(pool, q);
      return {
        items: rows.map(summary),
        nextBefore: rows.length === q.limit ? rows[rows.length - 1]!.id : null,
      };
    },

    async get(id) {
      const row = await findOutboxRow(pool, id);
      if (!row) throw AppError.notFound(`outbox event ${id} does not exist`);
      return detail(row);
    },

    async retry(id) {
      return withTransaction(pool, async (tx) => {
        const row = await retryDeadRow(tx, id);
        if (row) {
          await notifyOutbox(tx);
          return detail(row);
        }
        const existing = await findOutboxRow(tx, id);
        if (!existing) throw AppError.notFound(`outbox event ${id} does not exist`);
        throw new AppError(
          'conflict',
          `outbox event ${id} is ${existing.status}; only a dead event can be retried`,
        );
      });
    },

    async replay({ dryRun, ...range }) {
      return withTransaction(pool, async (tx) => {
        const matched = await countDoneInRange(tx, range);
        if (dryRun) return { dryRun, matched, replayed: 0, ids: [] };
        if (matched > MAX_REPLAY) {
          throw new AppError(
            'validation_error',
            `the range holds ${matched} done events; replay at most ${MAX_REPLAY} at a time`,
            [{ path: '(body)', message: 'narrow the range' }],
          );
        }
        const ids = await insertReplayCopies(tx, range);
        if (ids.length > 0) await notifyOutbox(tx);
        return { dryRun, matched, replayed: ids.length, ids };
      });
    },

    async stats() {
      const [{ counts, doneLastMinute }, gauges] = await Promise.all([
        readOutboxStats(pool),
        readOutboxGauges(pool),
      ]);
      return {
        counts,
        lagSeconds: gauges.lagSeconds,
        throughput: {
          lastMinute: doneLastMinute,
          perSecond: Math.round((doneLastMinute / 60) * 100) / 100,
        },
      };
    },
  };
}
