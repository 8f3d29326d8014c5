import type pg from 'pg';
import { withClient, withTransaction } from '../../db/pool';
import { errorMessage, isConnectionError } from '../../db/errors';
import type { Logger } from '../../observability/logger';
import {
  deliverInOrder,
  isFailure,
  planChunk,
  settleChunk,
  settleRetries,
  toOutboxEvent,
  type ChunkPlan,
  type DeliveryResult,
} from '../chunk';
import type { OutboxEvent } from '../event-types';
import { PermanentError } from '../handler';
import type { LaneWork, Round } from '../lanes';
import type { AnyInTransactionHandler } from '../registry';
import {
  advance,
  dueParkedEvents,
  readNextRetryAt,
  isLogError,
  LOG_ERRORS,
  nextEvents,
  runSqlBatch,
  runSqlEffect,
  settleParked,
  type LogEventRow,
} from '../sql/log';
import { backOffSubscription } from '../sql/subscriptions';
import { cancelOnAbort } from './cancel';
import type { RunnerOptions } from './external';
import { fenced } from './fenced';
import type { Reporter } from './report';

/** Every call of the chunk failed: roll back, then back off (outside the transaction). */
class EveryCallFailed extends Error {
  constructor(readonly error: string) {
    super(error);
  }
}

/**
 * A subscription whose effect is written in the database (an SQL statement, or code given the
 * transaction): its effects and its new position commit in one transaction, fenced by the lease
 * token, so each event's effect happens exactly once. An SQL subscription's chunk is one statement
 * (outbox_run_sql_batch); when that statement fails, or for code, the chunk runs in a transaction
 * that isolates the events at fault with a savepoint each and parks them.
 */
export function inTransactionRunner(deps: {
  pool: pg.Pool;
  handler: AnyInTransactionHandler;
  options: RunnerOptions;
  report: Reporter;
  logger: Logger;
}): Pick<LaneWork, 'round'> {
  const { pool, handler, options, report } = deps;
  const name = handler.name;
  const logger = deps.logger.child({ subscription: name });

  /**
   * The handler's effect over `rows`, in the caller's transaction. Payloads of known types are
   * checked first (also for an SQL effect, which would otherwise fail on what it cannot read, or
   * worse, not fail): one that does not match is dead at once.
   */
  async function effect(tx: pg.PoolClient, rows: LogEventRow[]): Promise<void> {
    const events: OutboxEvent[] = [];
    for (const row of rows) {
      const event = toOutboxEvent(row);
      if (isFailure(event)) throw new PermanentError(event.error);
      events.push(event);
    }
    if (handler.kind === 'sql') await runSqlEffect(tx, handler.effectSql, rows);
    else await handler.handleBatch(events, tx);
  }

  /**
   * Runs the effect for every event of the plan in the transaction: at once under one savepoint
   * (unless `isolate`), and event by event, each under its own savepoint, if that fails, so that
   * one bad event cannot fail the others; an event after a failed one of its aggregate is held
   * back. Returns each event's result.
   */
  async function deliverInTx(
    tx: pg.PoolClient,
    groups: LogEventRow[][],
    signal: AbortSignal,
    isolate: boolean,
  ): Promise<Map<string, DeliveryResult>> {
    const results = new Map<string, DeliveryResult>();
    const rows = groups.flat().sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    if (rows.length === 0) return results;
    // A payload that cannot be read fails only its own event: isolate at once.
    if (rows.some((row) => isFailure(toOutboxEvent(row)))) isolate = true;
    if (!isolate) {
      try {
        await tx.query('savepoint chunk');
        await effect(tx, rows);
        await tx.query('release savepoint chunk');
        for (const row of rows) results.set(row.id, null);
        return results;
      } catch (err) {
        if (signal.aborted || isConnectionError(err)) throw err;
        await tx.query('rollback to savepoint chunk');
        logger.debug({ err: errorMessage(err) }, 'chunk failed; isolating the events at fault');
      }
    }
    for (const group of groups) {
      await deliverInOrder(
        group,
        async (row) => {
          signal.throwIfAborted();
          await tx.query('savepoint one_event');
          try {
            await effect(tx, [row]);
          } catch (err) {
            if (isConnectionError(err)) throw err;
            await tx.query('rollback to savepoint one_event');
            throw err;
          }
          await tx.query('release savepoint one_event');
        },
        results,
      );
      // Cut short by the shutdown deadline (the statement in flight was cancelled, which looks
      // like the event's failure): give the round up and write nothing.
      signal.throwIfAborted();
    }
    return results;
  }

  /** The chunk through a transaction: read (locking the subscription), deliver, park, advance. */
  async function chunkInTransaction(token: string, signal: AbortSignal, isolate: boolean) {
    const startedAt = performance.now();
    let plan: ChunkPlan | undefined;
    let results = new Map<string, DeliveryResult>();
    let read = 0;
    let parkedDead = new Set<string>();
    try {
      const nextRetryAt = await withTransaction(pool, async (tx) => {
        const stopCancel = cancelOnAbort(pool, tx, signal);
        try {
          const rows = await nextEvents(tx, { name, token, limit: options.batchSize });
          read = rows.length;
          plan = planChunk(rows, { limit: options.batchSize, maxAttempts: options.maxAttempts });
          if (!plan) return undefined;
          results = await deliverInTx(tx, plan.groups, signal, isolate);
          const outcome = settleChunk(plan, results, options.maxAttempts);
          if (outcome.kind === 'back off') throw new EveryCallFailed(outcome.error);
          signal.throwIfAborted();
          parkedDead = new Set(
            outcome.parked.filter((p) => p.state === 'dead').map((p) => p.event_id),
          );
          return advance(tx, {
            name,
            token,
            cursor: plan.cursor,
            exhausted: plan.endsBatch,
            parked: outcome.parked,
            backoff: options.backoff,
          });
        } finally {
          stopCancel();
        }
      });
      if (plan) {
        for (const row of plan.groups.flat()) {
          const result = results.get(row.id);
          if (result === undefined || result === 'held back') continue;
          report.settled(
            {
              ...row,
              status: result === null ? 'done' : parkedDead.has(row.id) ? 'dead' : 'retrying',
              error: result?.error,
            },
            startedAt,
          );
        }
        if (plan.exhausted)
          report.settled({ ...plan.exhausted, status: 'dead', error: 'tries used up' }, startedAt);
      }
      return { read, nextRetryAt } satisfies Round;
    } catch (err) {
      if (!(err instanceof EveryCallFailed)) throw err;
      const until = await backOffSubscription(pool, {
        name,
        token,
        error: err.error,
        baseMs: options.backoff.baseMs,
        maxMs: options.backoff.maxMs,
      });
      report.backoff(until, err.error);
      return { read, backoffUntil: until } satisfies Round;
    }
  }

  /** The SQL subscription's chunk in one statement; its effect failing sends it the long way. */
  async function sqlChunk(token: string, signal: AbortSignal): Promise<Round> {
    if (handler.kind !== 'sql') return chunkInTransaction(token, signal, false);
    const startedAt = performance.now();
    try {
      // On a client of its own, so that the shutdown deadline can cancel it (cancelOnAbort): a
      // chunk stuck on a lock would otherwise hold shutdown until the statement timeout.
      const result = await withClient(pool, async (client) => {
        const stopCancel = cancelOnAbort(pool, client, signal);
        try {
          return await runSqlBatch(client, {
            name,
            token,
            limit: options.batchSize,
            effectSql: handler.effectSql,
            maxAttempts: options.maxAttempts,
          });
        } finally {
          stopCancel();
        }
      });
      for (const h of result.handled) report.settled({ ...h, status: 'done' }, startedAt);
      return { read: result.read, nextRetryAt: result.nextRetryAt };
    } catch (err) {
      // Our own connection failing, or the lease lost: not the events' fault.
      if (signal.aborted || isConnectionError(err) || isLogError(err, LOG_ERRORS.leaseLost))
        throw err;
      logger.warn(
        { err: errorMessage(err) },
        'the batch statement failed; running the chunk event by event to find the cause',
      );
      return chunkInTransaction(token, signal, true);
    }
  }

  /** Parked events whose retry is due: tries counted (committed), then effects and outcome. */
  async function retryDue(token: string, signal: AbortSignal) {
    const rows = await dueParkedEvents(pool, { name, token, limit: options.batchSize });
    if (rows.length === 0) return { read: 0, nextRetryAt: await readNextRetryAt(pool, name) };
    const startedAt = performance.now();
    const results = new Map<string, DeliveryResult>();
    for (const row of rows) {
      if (!row.owed) results.set(row.id, null);
      else if (row.attempt > options.maxAttempts) {
        results.set(row.id, {
          error: `${row.attempt - 1} tries started and none finished`,
          permanent: true,
        });
      }
    }
    const toDeliver = rows.filter((r) => !results.has(r.id));
    const groups = new Map<string, LogEventRow[]>();
    for (const row of toDeliver) {
      const key = `${row.aggregate_type}\u0000${row.aggregate_id}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    let dead = new Set<string>();
    const nextRetryAt = await withTransaction(pool, async (tx) => {
      const stopCancel = cancelOnAbort(pool, tx, signal);
      try {
        await tx.query({ text: 'select outbox_check_lease($1, $2)', values: [name, token] });
        const delivered = await deliverInTx(tx, [...groups.values()], signal, true);
        for (const [id, result] of delivered) results.set(id, result);
        signal.throwIfAborted();
        const settled = settleRetries(rows, results, options.maxAttempts);
        dead = new Set(settled.filter((s) => s.dead).map((s) => s.event_id));
        return settleParked(tx, { name, token, results: settled, backoff: options.backoff });
      } finally {
        stopCancel();
      }
    });
    for (const row of rows) {
      const result = results.get(row.id);
      if (!row.owed || result === undefined || result === 'held back') continue;
      report.settled(
        {
          ...row,
          status: result === null ? 'done' : dead.has(row.id) ? 'dead' : 'retrying',
          error: result?.error,
        },
        startedAt,
      );
    }
    return { read: rows.length, nextRetryAt };
  }

  return {
    round: (token, signal, { retriesDue }) =>
      fenced(name, async () => {
        const retried = retriesDue
          ? await retryDue(token, signal)
          : { read: 0, nextRetryAt: undefined };
        const round = await sqlChunk(token, signal);
        return {
          ...round,
          read: round.read + retried.read,
          nextRetryAt: round.nextRetryAt !== undefined ? round.nextRetryAt : retried.nextRetryAt,
        };
      }),
  };
}
