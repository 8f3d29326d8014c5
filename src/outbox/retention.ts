import type pg from 'pg';
import { tryWithAdvisoryLock } from '../db/advisory-lock';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { deleteRetainedStep } from './sql/retention';

/** Shared by every instance, so that one of them at a time deletes (see db/migrate.ts for 001). */
export const RETENTION_LOCK_KEY = 7_290_317_030;

export interface RetentionOptions {
  /**
   * Events written longer ago than this are deleted once every subscription has passed them and
   * none has parked them (OUTBOX_RETENTION): until then a subscription can be rewound over them.
   */
  retentionMs: number;
  /** Events examined per step: each step is its own short statement. */
  batchSize?: number;
  /** Upper bound of batches per run; the rest waits for the next run. */
  maxBatches?: number;
  /** Time between runs. */
  intervalMs?: number;
}

export interface RetentionRun {
  /** False when another instance held the lock: this run did nothing. */
  ran: boolean;
  deleted: number;
}

export interface Retention {
  start(): void;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
  runOnce(): Promise<RetentionRun>;
}

// 1,000 events per statement keeps each step in the low milliseconds; 100 steps per run bound a
// run to 100,000 events, so a first run on a large log cannot hold a connection for minutes.
const DEFAULTS = { batchSize: 1_000, maxBatches: 100, intervalMs: 60_000 };

export function createRetention(deps: {
  pool: pg.Pool;
  logger: Logger;
  options: RetentionOptions;
}): Retention {
  const { pool } = deps;
  // An option given as undefined keeps its default.
  const given = Object.fromEntries(
    Object.entries(deps.options).filter(([, v]) => v !== undefined),
  ) as RetentionOptions;
  const options = { ...DEFAULTS, ...given };
  const logger = deps.logger.child({ component: 'retention' });
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | undefined;
  let started = false;
  /** Set by stop(): a run in progress finishes its current batch and returns. */
  let stopping = false;
  /**
   * Where the next run resumes: a run that ends on its step bound (not at the end of what may be
   * deleted) leaves the next one to go on from there, so that more kept (parked) events in front
   * than one run examines cannot stop retention for good. Back to the front once a run ends.
   */
  let resumeAfter: { xid: string; id: string } | null = null;

  async function runOnce(): Promise<RetentionRun> {
    const startedAt = performance.now();
    const result = await tryWithAdvisoryLock(pool, RETENTION_LOCK_KEY, async (client) => {
      let deleted = 0;
      let after = resumeAfter;
      let done = false;
      for (let batch = 0; batch < options.maxBatches && !stopping && !done; batch++) {
        const step = await deleteRetainedStep(client, {
          olderThanMs: options.retentionMs,
          limit: options.batchSize,
          after,
        });
        deleted += step.deleted;
        after = step.after;
        done = step.done;
      }
      resumeAfter = done ? null : after;
      return deleted;
    });
    if (!result.acquired) {
      logger.debug('another instance holds the retention lock; skipped');
      return { ran: false, deleted: 0 };
    }
    const durationMs = Math.round(performance.now() - startedAt);
    if (result.value > 0) logger.info({ deleted: result.value, durationMs }, 'old events deleted');
    return { ran: true, deleted: result.value };
  }

  function schedule(delayMs: number): void {
    if (stopping) return;
    timer = setTimeout(() => {
      current = runOnce()
        .catch((err) =>
          logger.warn({ err: errorMessage(err) }, 'retention run failed; will try again'),
        )
        .finally(() => {
          current = undefined;
          schedule(options.intervalMs);
        });
    }, delayMs);
    timer.unref();
  }

  return {
    runOnce,
    start() {
      if (started) return;
      started = true;
      stopping = false;
      // The first run soon after start, not a full interval later.
      schedule(Math.min(5_000, options.intervalMs));
      logger.info(
        { retentionMs: options.retentionMs, everyMs: options.intervalMs },
        'retention on',
      );
    },
    async stop() {
      stopping = true;
      started = false;
      clearTimeout(timer);
      await current;
    },
  };
}
