import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { systemClock, type Clock } from './clock';
import type { OutboxEvents } from './events';
import { createLanes, type LaneWork } from './lanes';
import type { AnyHandler, HandlerRegistry } from './registry';
import { createReporter } from './runners/report';
import { externalRunner, type RunnerOptions } from './runners/external';
import { inTransactionRunner } from './runners/in-transaction';
import {
  acquireLease,
  declareSubscriptions,
  readSubscriptionState,
  releaseLease,
  renewLease,
  type SubscriptionStart,
} from './sql/subscriptions';
import { alwaysNotifyGate, type WakeGate } from './wake-gate';

export interface DispatcherOptions extends RunnerOptions {
  /** A subscription's lease; renewed every third of it while its instance lives. */
  leaseMs: number;
  pollIntervalMs: number;
  /** Where a subscription that does not exist yet starts (OUTBOX_SUBSCRIPTION_START). */
  subscriptionStart: SubscriptionStart;
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
  clock?: Clock;
}

export interface Dispatcher {
  readonly workerId: string;
  /** Declares this process's subscriptions (creating the new ones), then serves them. */
  start(): Promise<void>;
  /** A latency hint ("there may be work"): wakes the resting lanes now instead of at their poll. */
  nudge(): void;
  /**
   * An operator changed subscriptions (the NOTIFY payload 'subscriptions'): paused and backing-off
   * lanes read their state again, every lane looks for due retries (src/outbox/lanes.ts).
   */
  refresh(): void;
  /**
   * Stops reading, waits up to deadlineMs for the rounds in flight, then aborts what is left, and
   * gives every lease back. Resolves when nothing of this worker is running.
   */
  stop(deadlineMs: number): Promise<{ drained: boolean }>;
  readonly running: boolean;
  /** The subscriptions this process holds the lease of now. */
  held(): string[];
}

export function makeWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * The dispatcher: one lane per handler (subscription) this process serves. Each lane holds its
 * subscription's lease, and its runner reads the log at the subscription's position: in the
 * database's own transaction for SQL and code handlers (src/outbox/runners/in-transaction.ts),
 * outside it for external ones (src/outbox/runners/external.ts). Scheduling: src/outbox/lanes.ts.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { pool, registry, events, options } = deps;
  const workerId = deps.workerId ?? makeWorkerId();
  const logger = deps.logger.child({ component: 'dispatcher', workerId });
  const gate = deps.wakeGate?.(workerId) ?? alwaysNotifyGate;

  function laneWork(handler: AnyHandler): LaneWork {
    const name = handler.name;
    const report = createReporter({ subscription: name, events, logger });
    const runner =
      handler.kind === 'external'
        ? externalRunner({ pool, handler, options, report })
        : inTransactionRunner({ pool, handler, options, report, logger });
    return {
      name,
      acquire: () => acquireLease(pool, { name, holder: workerId, leaseMs: options.leaseMs }),
      renew: (token) => renewLease(pool, { name, token, leaseMs: options.leaseMs }),
      release: (token) => releaseLease(pool, { name, token }),
      async begin() {
        const state = await readSubscriptionState(pool, name);
        return {
          paused: state?.state === 'paused',
          backoffUntil: state?.backoffUntil ?? null,
          nextRetryAt: state?.nextRetryAt ?? null,
        };
      },
      round: runner.round,
    };
  }

  const lanes = createLanes({
    works: registry.handlers.map(laneWork),
    clock: deps.clock ?? systemClock,
    gate,
    async headOfLog() {
      const { rows } = await pool.query<{ id: string | null }>({
        name: 'outbox.head',
        text: 'select max(id) as id from outbox',
      });
      return rows[0]?.id ?? null;
    },
    options: {
      pollIntervalMs: options.pollIntervalMs,
      leaseMs: options.leaseMs,
      // As often as the fallback poll: a subscription given back (a clean stop) or whose holder's
      // lease ran out is taken over within it; each try is one UPDATE that matches no row.
      acquireEveryMs: options.pollIntervalMs,
    },
    logger,
    onRound: (subscription, round) => events.emit('round', { subscription, read: round.read }),
    onError: (subscription, error) => events.emit('dispatcher:error', { subscription, error }),
    onPaused: (subscription, paused) =>
      events.emit('subscription:paused', { subscription, paused }),
  });

  return {
    workerId,
    get running() {
      return lanes.running;
    },
    held: () => lanes.held(),
    async start() {
      if (lanes.running) return;
      const created = await declareSubscriptions(
        pool,
        registry.declarations,
        options.subscriptionStart,
      );
      if (created.length > 0)
        logger.info(
          { subscriptions: created, start: options.subscriptionStart },
          'new subscriptions created',
        );
      lanes.start();
      logger.info({ subscriptions: registry.names, ...options }, 'dispatcher started');
    },
    nudge: () => lanes.nudge(),
    refresh: () => lanes.refresh(),
    async stop(deadlineMs) {
      const { drained } = await lanes.stop(deadlineMs);
      await gate
        .stop()
        .catch((err) =>
          logger.warn({ err: errorMessage(err) }, 'could not remove the wake-up flag'),
        );
      logger.info({ drained }, 'dispatcher stopped');
      return { drained };
    },
  };
}
