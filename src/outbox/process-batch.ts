import type pg from 'pg';
import { withClient, withTransaction } from '../db/pool';
import { errorMessage, isTransientDbError } from '../db/errors';
import { eventPayloadSchemas, isKnownEventType, type OutboxEvent } from './event-types';
import { PermanentError, RetryLaterError } from './handler';
import type {
  AnyExternalHandler,
  AnyHandler,
  AnyInTransactionHandler,
  HandlerRegistry,
} from './registry';
import { lockBatch } from './sql/claim';
import { lockOwnClaims } from './sql/lease';
import { lockHandleSettle, runSqlEffect, type HandledRow } from './sql/one-statement';
import {
  settleBatch,
  settleLockedBatch,
  type BackoffSettings,
  type Settlement,
} from './sql/settle';
import type { DeliveryState, OutboxRow } from './types';

export interface BatchDeps {
  pool: pg.Pool;
  registry: HandlerRegistry;
  workerId: string;
  maxAttempts: number;
  backoff: BackoffSettings;
  /**
   * How long to keep retrying the settle transaction while the database is unreachable (the
   * lease: past it, another worker owns the rows anyway).
   */
  settleRetryMs: number;
}

/** Delays between tries of a settle transaction that failed on a transient error. */
const SETTLE_RETRY_MS = { base: 100, max: 2_000 };

interface Failure {
  error: string;
  permanent: boolean;
  retryAfterMs?: number;
}

/** One claimed row on its way through the handlers. */
export interface Job {
  row: OutboxRow;
  event?: OutboxEvent;
  /** Handlers still owed this event (the ones not done on an earlier attempt). */
  pending: AnyHandler[];
  results: Map<string, Failure | null>;
  /** Set when the event cannot be handled at all (its payload does not parse). */
  fatal?: string;
  startedAt: number;
}

export interface BatchOutcome {
  job: Job;
  settlement: Settlement;
  /** False when the lease was lost before settling: another worker owns the row now. */
  settled: boolean;
}

const MAX_ERROR_LENGTH = 2000;

function toFailure(err: unknown): Failure {
  return {
    error: errorMessage(err).slice(0, MAX_ERROR_LENGTH),
    permanent: err instanceof PermanentError,
    retryAfterMs: err instanceof RetryLaterError ? err.retryAfterMs : undefined,
  };
}

/** The handlers an event is still owed: its type's, less those done on an earlier attempt. */
function handlersOwed(
  registry: HandlerRegistry,
  eventType: string,
  deliveries: OutboxRow['deliveries'] | undefined,
): AnyHandler[] {
  return registry.handlersFor(eventType).filter((h) => deliveries?.[h.name]?.status !== 'done');
}

export function prepareJob(row: OutboxRow, registry: HandlerRegistry): Job {
  const startedAt = performance.now();
  const pending = handlersOwed(registry, row.event_type, row.deliveries);
  const job: Job = { row, pending, results: new Map(), startedAt };
  let payload: unknown = row.payload;
  if (isKnownEventType(row.event_type)) {
    const parsed = eventPayloadSchemas[row.event_type].safeParse(row.payload);
    if (!parsed.success) {
      job.fatal = `payload does not match ${row.event_type}: ${parsed.error.message}`.slice(
        0,
        MAX_ERROR_LENGTH,
      );
      return job;
    }
    payload = parsed.data;
  }
  job.event = {
    id: row.id,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    type: row.event_type,
    payload,
    createdAt: row.created_at,
    attempt: row.attempts,
  } as OutboxEvent;
  return job;
}

/** Runs the external handlers of every job, at most `limit` deliveries at a time. */
async function runExternal(jobs: Job[], signal: AbortSignal, limit: number): Promise<void> {
  const tasks: (() => Promise<void>)[] = [];
  for (const job of jobs) {
    if (!job.event) continue;
    for (const handler of job.pending) {
      if (handler.kind !== 'external') continue;
      const event = job.event;
      tasks.push(async () => {
        try {
          await (handler as AnyExternalHandler).handle(event, { signal });
          job.results.set(handler.name, null);
        } catch (err) {
          job.results.set(handler.name, toFailure(err));
        }
      });
    }
  }
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]!();
  });
  await Promise.all(lanes);
}

/** A transactional handler failed in a transaction run without savepoints (see runTransactional). */
class HandlerFailedWithoutSavepoint extends Error {
  constructor(handler: string, cause: unknown) {
    super(`${handler} failed; running the batch again with savepoints`, { cause });
  }
}

/**
 * Runs one transactional handler over the jobs: the whole batch under one savepoint, and event by
 * event (a savepoint each) only if the batch fails, so one bad event cannot fail the others.
 */
async function runTransactional(
  tx: pg.PoolClient,
  handler: AnyInTransactionHandler,
  jobs: Job[],
  signal: AbortSignal,
  { savepoints = true } = {},
): Promise<void> {
  const mine = jobs.filter((j) => j.event && j.pending.includes(handler));
  if (mine.length === 0) return;
  const handleBatch = (events: OutboxEvent[]) =>
    handler.kind === 'sql' ? runSqlEffect(tx, handler, events) : handler.handleBatch(events, tx);
  if (!savepoints) {
    // Optimistic: no savepoint round trips; a failure dooms the transaction, and the caller runs
    // the batch again with savepoints to find the event at fault.
    try {
      await handleBatch(mine.map((j) => j.event!));
    } catch (err) {
      throw new HandlerFailedWithoutSavepoint(handler.name, err);
    }
    for (const job of mine) job.results.set(handler.name, null);
    return;
  }
  try {
    await tx.query('savepoint batch_handler');
    await handleBatch(mine.map((j) => j.event!));
    await tx.query('release savepoint batch_handler');
    for (const job of mine) job.results.set(handler.name, null);
    return;
  } catch (err) {
    // Cancelled at the shutdown deadline: going on event by event would only block again.
    if (signal.aborted) throw err;
    await tx.query('rollback to savepoint batch_handler');
  }
  for (const job of mine) {
    if (signal.aborted) throw new Error('shutting down: batch not settled');
    try {
      await tx.query('savepoint one_handler');
      await handleBatch([job.event!]);
      await tx.query('release savepoint one_handler');
      job.results.set(handler.name, null);
    } catch (err) {
      await tx.query('rollback to savepoint one_handler');
      job.results.set(handler.name, toFailure(err));
    }
  }
}

/** The handlers owed by any of the jobs whose effects commit with the ack, each once. */
function transactionalHandlersOf(jobs: Job[]): AnyInTransactionHandler[] {
  return [
    ...new Set(
      jobs.flatMap((j) =>
        j.pending.filter((h): h is AnyInTransactionHandler => h.kind !== 'external'),
      ),
    ),
  ];
}

/** Decides what becomes of the event, and what each handler's delivery state is now. */
export function settlementFor(job: Job, maxAttempts: number, now: string): Settlement {
  const { row } = job;
  if (job.fatal) {
    return { id: row.id, status: 'dead', lastError: job.fatal, deliveries: {}, retryAfterMs: null };
  }
  const deliveries: Record<string, DeliveryState> = {};
  const errors: string[] = [];
  let permanent = false;
  let retryAfterMs: number | null = null;
  for (const handler of job.pending) {
    const failure = job.results.get(handler.name);
    const attempts = (row.deliveries?.[handler.name]?.attempts ?? 0) + 1;
    if (failure === null) {
      deliveries[handler.name] = { status: 'done', attempts, at: now };
      continue;
    }
    // No result at all: the handler did not get to run (e.g. shutdown). Counts as a failure.
    const f = failure ?? { error: 'not run', permanent: false };
    permanent ||= f.permanent;
    if (f.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, f.retryAfterMs);
    errors.push(`${handler.name}: ${f.error}`);
    deliveries[handler.name] = {
      status: f.permanent ? 'dead' : 'failed',
      attempts,
      error: f.error,
      at: now,
    };
  }
  if (errors.length === 0) {
    return { id: row.id, status: 'done', lastError: null, deliveries, retryAfterMs: null };
  }
  const dead = permanent || row.attempts >= maxAttempts;
  return {
    id: row.id,
    status: dead ? 'dead' : 'pending',
    lastError: errors.join('; ').slice(0, MAX_ERROR_LENGTH),
    deliveries,
    retryAfterMs,
  };
}

/**
 * Handles one claimed batch: external handlers first, then the transactional handlers and the
 * settlement of every row in one transaction, so database effects commit exactly with the ack.
 */
export async function processBatch(
  deps: BatchDeps,
  rows: OutboxRow[],
  signal: AbortSignal,
  externalConcurrency: number,
): Promise<BatchOutcome[]> {
  const jobs = rows.map((row) => prepareJob(row, deps.registry));
  await runExternal(jobs, signal, externalConcurrency);

  const transactional = transactionalHandlersOf(jobs);
  const now = new Date().toISOString();
  const ids = rows.map((r) => r.id);
  const giveUpAt = Date.now() + deps.settleRetryMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(deps.pool, (tx) =>
        settleInTransaction(deps, tx, jobs, ids, transactional, now, signal),
      );
    } catch (err) {
      // The handlers' external effects happened: a settle lost to a database blip is retried,
      // rather than letting the lease run out and the whole batch run again.
      const delay = Math.min(SETTLE_RETRY_MS.max, SETTLE_RETRY_MS.base * 2 ** (attempt - 1));
      if (!isTransientDbError(err) || signal.aborted || Date.now() + delay > giveUpAt) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function settleInTransaction(
  deps: BatchDeps,
  tx: pg.PoolClient,
  jobs: Job[],
  ids: string[],
  transactional: AnyInTransactionHandler[],
  now: string,
  signal: AbortSignal,
): Promise<BatchOutcome[]> {
  if (signal.aborted) throw new Error('shutting down: batch not settled');
  const stopCancel = cancelOnAbort(deps.pool, tx, signal);
  try {
    const owned = new Set(await lockOwnClaims(tx, { ids, workerId: deps.workerId }));
    const mine = jobs.filter((job) => owned.has(job.row.id));
    for (const handler of transactional) await runTransactional(tx, handler, mine, signal);
    const settlements = jobs.map((job) => settlementFor(job, deps.maxAttempts, now));
    const settled = new Set(
      await settleBatch(
        tx,
        deps.workerId,
        deps.backoff,
        settlements.filter((s) => owned.has(s.id)),
      ),
    );
    return jobs.map((job, i) => ({
      job,
      settlement: settlements[i]!,
      settled: settled.has(job.row.id),
    }));
  } finally {
    stopCancel();
  }
}

/**
 * At the shutdown deadline, cancels the transaction's running statement so that its row locks go
 * and stop() can give the claims back (a handler blocked on a lock would otherwise hold them).
 * Returns the function that disarms it.
 */
function cancelOnAbort(pool: pg.Pool, tx: pg.PoolClient, signal: AbortSignal): () => void {
  const pid = (tx as unknown as { processID?: number }).processID;
  const cancel = () => {
    if (!pid) return;
    pool
      .query({ name: 'outbox.cancel_settle', text: 'select pg_cancel_backend($1)', values: [pid] })
      .catch(() => undefined); // best effort: the statement_timeout bounds it anyway
  };
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

/**
 * The in-transaction path, for registries whose handlers are all transactional (the built-in
 * set): lock a batch, run the handlers and settle, all in one transaction. Nothing leaves the
 * database, so there is nothing to lease: the row locks hold the batch, and a crash or a failed
 * commit rolls the whole of it back, effects included. Returns no outcome when nothing was
 * claimable.
 */
export async function processLockedBatch(
  deps: BatchDeps,
  limit: number,
  signal: AbortSignal,
  { handlerFailed = false } = {},
): Promise<BatchOutcome[]> {
  const now = new Date().toISOString();
  if (signal.aborted) return [];
  const attempt = (savepoints: boolean) =>
    withTransaction(deps.pool, async (tx) => {
      const stopCancel = cancelOnAbort(deps.pool, tx, signal);
      try {
        return await handleLocked(deps, tx, { limit, signal, now, savepoints });
      } finally {
        stopCancel();
      }
    });
  // Handlers rarely fail: run without savepoints (two round trips fewer per batch), and only
  // after a failure again with them, so that one bad event cannot fail the others. A caller that
  // just saw a handler fail on this batch (`handlerFailed`) goes straight to savepoints.
  if (handlerFailed) return attempt(true);
  try {
    return await attempt(false);
  } catch (err) {
    if (!(err instanceof HandlerFailedWithoutSavepoint) || signal.aborted) throw err;
    return attempt(true);
  }
}

async function handleLocked(
  deps: BatchDeps,
  tx: pg.PoolClient,
  opts: { limit: number; signal: AbortSignal; now: string; savepoints: boolean },
): Promise<BatchOutcome[]> {
  const { limit, signal, now, savepoints } = opts;
  const rows = await lockBatch(tx, { limit });
  if (rows.length === 0) return [];
  // settlementFor counts this run as an attempt, as the leasing claim would have.
  const jobs = rows.map((row) => prepareJob({ ...row, attempts: row.attempts + 1 }, deps.registry));
  for (const handler of transactionalHandlersOf(jobs))
    await runTransactional(tx, handler, jobs, signal, { savepoints });
  const settlements = jobs.map((job) => settlementFor(job, deps.maxAttempts, now));
  const settled = new Set(await settleLockedBatch(tx, deps.backoff, settlements));
  return jobs.map((job, i) => ({
    job,
    settlement: settlements[i]!,
    settled: settled.has(job.row.id),
  }));
}

/**
 * The one-statement path, for registries whose handlers are all SQL handlers (the built-in set):
 * lock, handle and settle a batch in one statement (src/outbox/sql/one-statement.ts), on one
 * connection, with no transaction of ours around it. When the statement fails on something other
 * than the connection (an effect refused an event), nothing was written, and the batch goes the
 * in-transaction way, which finds the event at fault and settles the others. An event's payload
 * is read by the effects as it is; one that makes an effect fail is checked there against its
 * schema. Returns no outcome when nothing was claimable.
 */
export async function processOneStatementBatch(
  deps: BatchDeps & { sql: string },
  limit: number,
  signal: AbortSignal,
): Promise<BatchOutcome[]> {
  if (signal.aborted) return [];
  const startedAt = performance.now();
  const now = new Date().toISOString();
  let rows: HandledRow[];
  try {
    rows = await withClient(deps.pool, async (client) => {
      const stopCancel = cancelOnAbort(deps.pool, client, signal);
      try {
        return await lockHandleSettle(client, deps.sql, { limit, now });
      } finally {
        stopCancel();
      }
    });
  } catch (err) {
    if (isTransientDbError(err) || signal.aborted) throw err;
    return processLockedBatch(deps, limit, signal, { handlerFailed: true });
  }
  return rows.map((handled) => {
    const row = { ...handled, deliveries: handled.previous_deliveries } as unknown as OutboxRow;
    const pending = handlersOwed(deps.registry, row.event_type, handled.previous_deliveries);
    const results = new Map<string, Failure | null>(pending.map((h) => [h.name, null]));
    return {
      job: { row, pending, results, startedAt },
      settlement: {
        id: row.id,
        status: 'done',
        lastError: null,
        deliveries: {},
        retryAfterMs: null,
      },
      settled: true,
    };
  });
}
