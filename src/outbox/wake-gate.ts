import type pg from 'pg';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { removeDispatcher, setDispatcherAwake } from './sql/dispatchers';

/**
 * Tells writers whether to ring the NOTIFY doorbell (db/migrations/0040_outbox_wakeup_gate.sql).
 * While this dispatcher is awake, writers skip pg_notify and its database-wide commit lock; when
 * every claim loop is out of work it goes idle first, and only then sleeps.
 */
export interface WakeGate {
  /** True while writers are told not to ring (as far as this process knows). */
  readonly awake: boolean;
  /**
   * "I am working": writers may stop ringing. Costs a query only on the idle -> awake flip and
   * every third of the expiry while awake, so that the flag of a dead process runs out.
   */
  markAwake(): void;
  /** "I am about to sleep": writers ring again. Resolves once the flag is committed. */
  markIdle(): Promise<void>;
  /** Forgets this dispatcher: writers ring again as before. */
  stop(): Promise<void>;
}

/**
 * How long an awake flag holds without renewal. A dispatcher that dies awake suppresses
 * notifications at most this long; the other dispatchers' fallback poll still finds the rows.
 * 3 s against a renewal every second: a loop stuck for > 3 s in one batch lets writers ring again,
 * which is harmless.
 */
export const AWAKE_TTL_MS = 3_000;

export interface WakeGateDeps {
  pool: pg.Pool;
  workerId: string;
  logger: Logger;
}

export function createWakeGate(deps: WakeGateDeps): WakeGate {
  const logger = deps.logger.child({ component: 'wake-gate', workerId: deps.workerId });
  let awake = false;
  let renewedAt = 0;
  let stopped = false;
  // Flips are written in the order they were decided; the last one wins.
  let chain: Promise<void> = Promise.resolve();

  function write(flag: boolean): Promise<void> {
    const next = chain.then(async () => {
      if (stopped) return;
      try {
        await setDispatcherAwake(deps.pool, {
          workerId: deps.workerId,
          awake: flag,
          ttlMs: AWAKE_TTL_MS,
        });
      } catch (err) {
        // Not fatal either way: a stale "awake" expires in AWAKE_TTL_MS, a stale "idle" only
        // costs writers a NOTIFY; the fallback poll bounds any delay.
        logger.warn(
          { err: errorMessage(err), awake: flag },
          'could not record the dispatcher wake-up flag; writers may notify (or not) until it expires',
        );
      }
    });
    chain = next;
    return next;
  }

  return {
    get awake() {
      return awake;
    },
    markAwake() {
      const now = performance.now();
      if (awake && now - renewedAt < AWAKE_TTL_MS / 3) return;
      awake = true;
      renewedAt = now;
      void write(true);
    },
    markIdle() {
      awake = false;
      return write(false);
    },
    async stop() {
      awake = false;
      await chain;
      stopped = true;
      await removeDispatcher(deps.pool, deps.workerId).catch((err) =>
        logger.warn(
          { err: errorMessage(err) },
          `could not remove the wake-up flag; it expires within ${AWAKE_TTL_MS} ms`,
        ),
      );
    },
  };
}

/** OUTBOX_WAKEUP=notify: never registers, so writers ring on every commit (the 0003 behaviour). */
export const alwaysNotifyGate: WakeGate = {
  awake: false,
  markAwake() {},
  markIdle: () => Promise.resolve(),
  stop: () => Promise.resolve(),
};
