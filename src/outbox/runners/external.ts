import type pg from 'pg';
import {
  deliverInOrder,
  isFailure,
  planChunk,
  settleChunk,
  settleRetries,
  toOutboxEvent,
  type DeliveryResult,
} from '../chunk';
import { PermanentError } from '../handler';
import type { LaneWork, Round } from '../lanes';
import type { AnyExternalHandler } from '../registry';
import {
  advance,
  dueParkedEvents,
  readNextRetryAt,
  nextEvents,
  settleParked,
  type BackoffSettings,
  type LogEventRow,
} from '../sql/log';
import { backOffSubscription } from '../sql/subscriptions';
import type { Reporter } from './report';
import { fenced } from './fenced';

export interface RunnerOptions {
  batchSize: number;
  maxAttempts: number;
  backoff: BackoffSettings;
}

/**
 * Calls in flight at once for one subscription: a webhook receiver or an SMTP server should not
 * see a whole chunk (hundreds) of calls at once from one process.
 */
export const EXTERNAL_CONCURRENCY = 32;

/** Runs `tasks` with at most `limit` in flight. */
async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]!();
  });
  await Promise.all(lanes);
}

/** Groups rows by aggregate, each group in id order. */
function byAggregate(rows: readonly LogEventRow[]): LogEventRow[][] {
  const groups = new Map<string, LogEventRow[]>();
  for (const row of rows) {
    const key = `${row.aggregate_type}\u0000${row.aggregate_id}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()];
}

/**
 * A subscription whose effect happens outside the database (a webhook, an e-mail, a broker): at
 * least once. A round retries the parked events that are due, then reads one chunk of the log,
 * delivers it outside any transaction (aggregates in parallel, each one's events in order), and
 * moves the position past it, parking what failed, in one fenced statement. When every call
 * failed, nothing moves: the subscription backs off as a whole.
 */
export function externalRunner(deps: {
  pool: pg.Pool;
  handler: AnyExternalHandler;
  options: RunnerOptions;
  report: Reporter;
}): Pick<LaneWork, 'round'> {
  const { pool, handler, options, report } = deps;
  const name = handler.name;

  async function deliver(row: LogEventRow, signal: AbortSignal): Promise<void> {
    const event = toOutboxEvent(row);
    if (isFailure(event)) throw new PermanentError(event.error);
    signal.throwIfAborted();
    await handler.handle(event, { signal });
  }

  /** Delivers the rows, aggregates in parallel; returns each row's result. */
  async function deliverAll(
    groups: LogEventRow[][],
    signal: AbortSignal,
  ): Promise<Map<string, DeliveryResult>> {
    const results = new Map<string, DeliveryResult>();
    await runLimited(
      groups.map((group) => () => deliverInOrder(group, (row) => deliver(row, signal), results)),
      EXTERNAL_CONCURRENCY,
    );
    // Cut short by the shutdown deadline: write nothing. The next holder delivers the chunk again
    // (at least once; every call carries the event id as its idempotency key).
    signal.throwIfAborted();
    return results;
  }

  function reportResults(
    rows: readonly LogEventRow[],
    results: ReadonlyMap<string, DeliveryResult>,
    deadOf: (row: LogEventRow) => boolean,
    startedAt: number,
  ): void {
    for (const row of rows) {
      const result = results.get(row.id);
      if (result === undefined || result === 'held back') continue;
      report.settled(
        {
          ...row,
          status: result === null ? 'done' : deadOf(row) ? 'dead' : 'retrying',
          error: result?.error,
        },
        startedAt,
      );
    }
  }

  /** The parked events whose retry is due: their tries are counted before delivering. */
  async function retryDue(token: string, signal: AbortSignal) {
    const rows = await dueParkedEvents(pool, { name, token, limit: options.batchSize });
    if (rows.length === 0) return { read: 0, nextRetryAt: await readNextRetryAt(pool, name) };
    const startedAt = performance.now();
    const results = new Map<string, DeliveryResult>();
    const usedUp = rows.filter((r) => r.attempt > options.maxAttempts);
    for (const row of rows) {
      // No longer its type (the configuration changed): nothing is owed.
      if (!row.owed) results.set(row.id, null);
    }
    for (const row of usedUp) {
      results.set(row.id, {
        error: `${row.attempt - 1} tries started and none finished`,
        permanent: true,
      });
    }
    const toDeliver = rows.filter((r) => r.owed && r.attempt <= options.maxAttempts);
    const delivered = await deliverAll(byAggregate(toDeliver), signal);
    for (const [id, result] of delivered) results.set(id, result);
    const settled = settleRetries(rows, results, options.maxAttempts);
    const nextRetryAt = await settleParked(pool, {
      name,
      token,
      results: settled,
      backoff: options.backoff,
    });
    const dead = new Set(settled.filter((s) => s.dead).map((s) => s.event_id));
    reportResults(
      rows.filter((r) => r.owed),
      results,
      (r) => dead.has(r.id),
      startedAt,
    );
    return { read: rows.length, nextRetryAt };
  }

  async function readLog(token: string, signal: AbortSignal): Promise<Round> {
    const rows = await nextEvents(pool, { name, token, limit: options.batchSize });
    const plan = planChunk(rows, { limit: options.batchSize, maxAttempts: options.maxAttempts });
    if (!plan) return { read: 0 };
    const startedAt = performance.now();
    const results = await deliverAll(plan.groups, signal);
    const outcome = settleChunk(plan, results, options.maxAttempts);
    if (outcome.kind === 'back off') {
      const until = await backOffSubscription(pool, {
        name,
        token,
        error: outcome.error,
        baseMs: options.backoff.baseMs,
        maxMs: options.backoff.maxMs,
      });
      report.backoff(until, outcome.error);
      return { read: rows.length, backoffUntil: until };
    }
    const nextRetryAt = await advance(pool, {
      name,
      token,
      cursor: plan.cursor,
      exhausted: plan.endsBatch,
      parked: outcome.parked,
      backoff: options.backoff,
    });
    const dead = new Set(outcome.parked.filter((p) => p.state === 'dead').map((p) => p.event_id));
    reportResults(plan.groups.flat(), results, (r) => dead.has(r.id), startedAt);
    if (plan.exhausted) {
      report.settled(
        { ...plan.exhausted, status: 'dead', error: 'tries used up without one finishing' },
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
        const round = await readLog(token, signal);
        return {
          ...round,
          read: round.read + retried.read,
          nextRetryAt: round.nextRetryAt !== undefined ? round.nextRetryAt : retried.nextRetryAt,
        };
      }),
  };
}
