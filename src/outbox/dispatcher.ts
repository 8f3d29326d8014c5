import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { errorMessage, isTransientDbError } from '../db/errors';
import type { Logger } from '../observability/logger';
import type { OutboxEvents } from './events';
import {
  processBatch,
  processLockedBatch,
  processOneStatementBatch,
  type BatchOutcome,
} from './process-batch';
import type { HandlerRegistry } from './registry';
import { oneStatementBatchSql } from './sql/one-statement';
import { claimBatch } from './sql/claim';
import { extendLease, releaseClaims } from './sql/lease';
import type { BackoffSettings } from './sql/settle';
import { alwaysNotifyGate, type WakeGate } from './wake-gate';

export interface DispatcherOptions {
  batchSize: number;
  /** Claim loops per process; each has at most one batch in flight. */
  concurrency: number;
  maxAttempts: number;
  leaseMs: number;
  pollIntervalMs: number;
  backoff: BackoffSettings;
}

export interface DispatcherDeps {
  pool: pg.Pool;
  registry: HandlerRegistry;
  logger: Logger;
  events: OutboxEvents;
  options: DispatcherOptions;
  workerId?: string;
  /** Tells writers when to ring NOTIFY (src/outbox/wake-gate.ts); default: always. */
  wakeGate?: (workerId: string) => WakeGate;
}

export interface Dispatcher {
  readonly workerId: string;
  start(): void;
  /** A latency hint ("there may be work"): wakes an idle loop now instead of at the next poll. */
  nudge(): void;
  /**
   * Stops claiming, waits up to deadlineMs for in-flight batches, then aborts what is left and
   * gives its claims back. Resolves when nothing of this worker is running.
   */
  stop(deadlineMs: number): Promise<{ drained: boolean; released: number }>;
  readonly running: boolean;
}

/**
 * External deliveries of one batch in flight at once: a webhook receiver or an SMTP server should
 * not see a whole batch (hundreds) of calls at once from one process.
 */
const EXTERNAL_CONCURRENCY = 32;

/** Errors of our own database calls: wait this long before the next try (capped exponential). */
const ERROR_BACKOFF_MS = { base: 100, max: 5_000 };

/**
 * After going idle, a lane claims once at once and once more after this linger before the long
 * sleep: a writer that read "awake" just before the flip commits without ringing, and a commit is
 * typically done within a few ms (fsync included). Later ones wait for the fallback poll.
 */
export const IDLE_LINGER_MS = 25;

/**
 * While the dispatcher is flagged awake (writers do not ring) and some lanes are still working,
 * one resting lane, the watcher, makes sure that a claim starts at least this often, instead of
 * sleeping the fallback poll: events committed while the other lanes are stuck in long batches
 * (a slow webhook) are claimed within this. It claims only when no lane has started a claim for
 * that long: lanes that come back quickly cover new events themselves, and extra claims would
 * cost the writers (claiming every 10 ms regardless took capture at 1 writer from ~0.73x to
 * ~0.58x of the triggers-off rate).
 */
export const AWAKE_WATCH_MS = 10;

export function makeWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { pool, registry, events, options } = deps;
  const workerId = deps.workerId ?? makeWorkerId();
  const logger = deps.logger.child({ component: 'dispatcher', workerId });
  const abort = new AbortController();
  const gate = deps.wakeGate?.(workerId) ?? alwaysNotifyGate;

  let running = false;
  let loops: Promise<void>[] = [];
  let wakeSeq = 0;
  const sleepers = new Set<() => void>();
  /** Lanes whose last claim came back empty. */
  let restingLanes = 0;
  /** The lane sleeping between the watcher's claims (see AWAKE_WATCH_MS), if any. */
  let watcher: number | undefined;
  /** When the last claim of any lane started (performance.now()). */
  let lastClaimAt = 0;

  function nudge(): void {
    if (running) gate.markAwake();
    wakeSeq++;
    for (const wake of [...sleepers]) wake();
  }

  /** Ends one lane's sleep (any: they are alike). */
  function wakeOneSleeper(): void {
    const [wake] = sleepers;
    wake?.();
  }

  /** Sleeps up to ms, or until nudged; returns at once if a nudge came after `seenSeq`. */
  function sleep(ms: number, seenSeq: number): Promise<void> {
    if (!running || wakeSeq !== seenSeq) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  }

  function report(outcomes: BatchOutcome[]): void {
    for (const { job, settlement, settled } of outcomes) {
      const durationMs = performance.now() - job.startedAt;
      const base = {
        id: job.row.id,
        type: job.row.event_type,
        aggregate: `${job.row.aggregate_type}:${job.row.aggregate_id}`,
        attempt: job.row.attempts,
        durationMs: Math.round(durationMs * 100) / 100,
      };
      if (!settled) {
        logger.warn(base, 'lease lost before settling: another worker took this event over');
        continue;
      }
      if (settlement.status === 'done') logger.debug(base, 'event handled');
      else if (settlement.status === 'pending')
        logger.warn({ ...base, error: settlement.lastError }, 'event failed; will retry');
      else logger.error({ ...base, error: settlement.lastError }, 'event is dead');
      events.emit('settled', {
        id: job.row.id,
        type: job.row.event_type,
        aggregateType: job.row.aggregate_type,
        aggregateId: job.row.aggregate_id,
        status: settlement.status,
        attempt: job.row.attempts,
        durationMs,
        createdAt: job.row.created_at,
        payload: job.row.payload,
        handlers: job.pending.map((h) => {
          const failure = job.results.get(h.name);
          return failure === null
            ? { name: h.name, ok: true }
            : { name: h.name, ok: false, error: failure?.error };
        }),
        error: settlement.lastError,
      });
    }
  }

  /** Keeps the lease of a batch alive while its handlers run longer than a third of it. */
  function keepLeased(ids: string[]): () => void {
    const timer = setInterval(
      () => {
        extendLease(pool, { ids, workerId, leaseMs: options.leaseMs }).catch((err) =>
          logger.warn({ err: errorMessage(err) }, 'could not extend the lease'),
        );
      },
      Math.floor(options.leaseMs / 3),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * What a lane does after an empty claim. `sinceIdle` counts this lane's empty claims since it
   * flipped the gate idle (0: it did not). Returns the new count.
   */
  async function rest(lane: number, seq: number, sinceIdle: number): Promise<number> {
    restingLanes++;
    try {
      if (restingLanes === options.concurrency && gate.awake) {
        // Every lane is out of work: writers must ring again before we sleep, and a writer that
        // read "awake" just before this flip may have committed since: claim once more at once.
        await gate.markIdle();
        return 1;
      }
      if (sinceIdle === 1) {
        await sleep(IDLE_LINGER_MS, seq);
        return 2;
      }
      if (gate.awake && watcher === undefined) {
        // The role is held only while sleeping: a watcher whose claim finds work is busy like the
        // others, and the next lane to rest takes over.
        watcher = lane;
        try {
          for (;;) {
            const due = lastClaimAt + AWAKE_WATCH_MS - performance.now();
            if (due <= 0 || !running || !gate.awake || wakeSeq !== seq) break;
            await sleep(due, seq);
          }
        } finally {
          watcher = undefined;
        }
        return sinceIdle;
      }
      await sleep(options.pollIntervalMs, seq);
      return sinceIdle;
    } finally {
      restingLanes--;
    }
  }

  const batchDeps = {
    pool,
    registry,
    workerId,
    maxAttempts: options.maxAttempts,
    backoff: options.backoff,
    settleRetryMs: options.leaseMs,
  };

  /** Marks this dispatcher awake once a claim found work (writers stop ringing meanwhile). */
  function foundWork(count: number): void {
    gate.markAwake();
    // A full batch means a backlog: wake the resting lanes, since writers no longer ring while
    // we are awake.
    if (count === options.batchSize) nudge();
    // Writers do not ring while this batch runs: if no lane is watching, wake one to watch (it
    // may have gone to sleep while we were idle, or while this lane was the watcher).
    else if (watcher === undefined) wakeOneSleeper();
    events.emit('claimed', { workerId, count });
  }

  /** The leasing path: claim, run the handlers outside any transaction, settle. */
  async function claimAndProcess(): Promise<BatchOutcome[]> {
    const rows = await claimBatch(pool, {
      limit: options.batchSize,
      workerId,
      leaseMs: options.leaseMs,
    });
    if (rows.length === 0) return [];
    foundWork(rows.length);
    const stopLease = keepLeased(rows.map((r) => r.id));
    try {
      return await processBatch(batchDeps, rows, abort.signal, EXTERNAL_CONCURRENCY);
    } finally {
      stopLease();
    }
  }

  const oneStatement = registry.allSql && {
    ...batchDeps,
    sql: oneStatementBatchSql(registry.allSql),
  };

  /**
   * The in-transaction path (no handler acts outside the database): lock, handle, settle, commit;
   * in one statement when every handler is an SQL handler.
   */
  async function lockAndProcess(): Promise<BatchOutcome[]> {
    const outcomes = oneStatement
      ? await processOneStatementBatch(oneStatement, options.batchSize, abort.signal)
      : await processLockedBatch(batchDeps, options.batchSize, abort.signal);
    if (outcomes.length > 0) foundWork(outcomes.length);
    return outcomes;
  }

  async function loop(lane: number): Promise<void> {
    let failures = 0;
    let sinceIdle = 0;
    while (running) {
      const seq = wakeSeq;
      lastClaimAt = performance.now();
      try {
        const claimed = registry.hasExternal ? await claimAndProcess() : await lockAndProcess();
        failures = 0;
        if (claimed.length === 0) {
          sinceIdle = await rest(lane, seq, sinceIdle);
          continue;
        }
        sinceIdle = 0;
        report(claimed);
      } catch (err) {
        // Leased rows (if any) are retried when the lease runs out; locked ones were rolled back.
        failures++;
        const delay = Math.min(ERROR_BACKOFF_MS.max, ERROR_BACKOFF_MS.base * 2 ** (failures - 1));
        const log = isTransientDbError(err) ? logger.warn.bind(logger) : logger.error.bind(logger);
        log({ err: errorMessage(err), lane, retryInMs: delay }, 'dispatch loop error');
        events.emit('dispatcher:error', { error: errorMessage(err) });
        await sleep(delay, wakeSeq);
      }
    }
  }

  return {
    workerId,
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      loops = Array.from({ length: options.concurrency }, (_, lane) => loop(lane));
      logger.info({ ...options }, 'dispatcher started');
    },
    nudge,
    async stop(deadlineMs) {
      if (!running && loops.length === 0) return { drained: true, released: 0 };
      running = false;
      nudge();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        Promise.all(loops).then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), deadlineMs);
        }),
      ]);
      clearTimeout(timer);
      let released = 0;
      if (!drained) {
        abort.abort(new Error('shutting down'));
        released = await releaseClaims(pool, workerId).catch((err) => {
          logger.error(
            { err: errorMessage(err) },
            'could not release claims; they expire with their lease',
          );
          return 0;
        });
      }
      loops = [];
      await gate.stop();
      logger.info({ drained, released }, 'dispatcher stopped');
      return { drained, released };
    },
  };
}
