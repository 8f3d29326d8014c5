import type pg from 'pg';
import { AppError } from '../app-error';
import { withTransaction } from '../db/pool';
import type { SubscriptionRates } from '../observability/subscription-rates';
import { isLogError, LOG_ERRORS } from '../outbox/sql/log';
import {
  createSubscription,
  firstEventAt,
  listSubscriptions,
  matchParked,
  movePosition,
  notifySubscriptionsChanged,
  retryParked,
  setPaused,
  skipParked,
  type MoveRow,
  type ParkedMatch,
  type SubscriptionRow,
} from './subscriptions.repo';
import {
  COUNT_CAP,
  type CreateSubscriptionBody,
  type ForwardBody,
  type MoveResult,
  type ParkedActionBody,
  type ParkedActionResult,
  type RewindBody,
  type SubscriptionDetail,
} from './subscriptions.schema';

/** What an operator does to subscriptions (the routes under /admin/subscriptions and /admin/parked). */
export interface SubscriptionsService {
  list(): Promise<{ items: SubscriptionDetail[] }>;
  get(name: string): Promise<SubscriptionDetail>;
  create(body: CreateSubscriptionBody): Promise<SubscriptionDetail>;
  pause(name: string): Promise<SubscriptionDetail>;
  resume(name: string): Promise<SubscriptionDetail>;
  rewind(name: string, body: RewindBody): Promise<MoveResult>;
  forward(name: string, body: ForwardBody): Promise<MoveResult>;
  retryParked(filter: ParkedActionBody): Promise<ParkedActionResult>;
  skipParked(filter: ParkedActionBody): Promise<ParkedActionResult>;
}

export interface SubscriptionsDeps {
  pool: pg.Pool;
  /** This instance's throughput per subscription; absent: reported as 0. */
  rates?: SubscriptionRates;
  /** The subscriptions whose lease this instance holds. */
  held?: () => readonly string[];
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

const missing = (name: string) => AppError.notFound(`subscription ${name} does not exist`);

/** The database's refusals as the API's errors: no such subscription (404), refused (409). */
function asAppError(err: unknown, name: string): unknown {
  if (isLogError(err, LOG_ERRORS.noSubscription)) return missing(name);
  if (isLogError(err, LOG_ERRORS.refused))
    return new AppError('conflict', (err as Error).message.replace(/^outbox /, ''));
  return err;
}

export function createSubscriptionsService(deps: SubscriptionsDeps): SubscriptionsService {
  const { pool } = deps;

  function detail(r: SubscriptionRow): SubscriptionDetail {
    const rate = deps.rates?.rate(r.name, 60) ?? { done: 0, failed: 0 };
    const behind = Number(r.behind);
    return {
      name: r.name,
      kind: r.kind,
      eventTypes: r.event_types,
      state: r.state,
      backoffUntil: iso(r.backoff_until),
      lastError: r.last_error,
      holder: r.holder,
      leaseUntil: iso(r.lease_until),
      position: {
        snapshot: r.snapshot,
        batch: r.batch_snapshot ? { snapshot: r.batch_snapshot, cursor: r.batch_cursor } : null,
        origin: r.origin,
        next: r.next_id && r.next_at ? { id: r.next_id, createdAt: r.next_at.toISOString() } : null,
      },
      lag: {
        events: behind,
        more: behind >= COUNT_CAP,
        seconds: r.oldest_at ? Math.max(0, (Date.now() - r.oldest_at.getTime()) / 1000) : 0,
      },
      parked: { retrying: Number(r.retrying), waiting: Number(r.waiting), dead: Number(r.dead) },
      throughput: {
        perSecond: rate.done,
        failedPerSecond: rate.failed,
        heldHere: deps.held?.().includes(r.name) ?? false,
      },
      createdAt: r.created_at.toISOString(),
    };
  }

  async function get(name: string): Promise<SubscriptionDetail> {
    const [row] = await listSubscriptions(pool, { name, cap: COUNT_CAP });
    if (!row) throw missing(name);
    return detail(row);
  }

  /** The first event to deliver: an id as given, the first at or after a time, or an end. */
  async function target(body: {
    fromId?: string;
    fromTime?: string;
    from?: 'oldest' | 'now';
  }): Promise<{ fromId: string | null; at?: string }> {
    if (body.fromId !== undefined) return { fromId: body.fromId };
    if (body.fromTime !== undefined)
      return { fromId: await firstEventAt(pool, body.fromTime), at: body.fromTime };
    return { fromId: body.from === 'oldest' ? '1' : null };
  }

  function moveResult(
    name: string,
    direction: MoveResult['direction'],
    dryRun: boolean,
    r: MoveRow,
  ): MoveResult {
    return {
      subscription: name,
      direction,
      dryRun,
      from: r.target_id && r.target_at ? { id: r.target_id, createdAt: iso(r.target_at)! } : null,
      deliverAgain: { count: Number(r.deliver_again), more: r.deliver_again_more },
      skip: { count: Number(r.skip), more: r.skip_more },
      keptOwed: Number(r.kept),
      unparked: Number(r.unparked),
    };
  }

  async function move(
    name: string,
    direction: MoveResult['direction'],
    body: RewindBody | ForwardBody,
  ): Promise<MoveResult> {
    const { fromId, at } = await target(body);
    if (direction === 'rewind' && fromId === null) {
      throw new AppError(
        'conflict',
        `no event was written at or after ${at}: there is nothing to deliver again`,
      );
    }
    try {
      const row = await movePosition(pool, {
        name,
        mode: direction,
        fromId,
        dryRun: body.dryRun,
        cap: COUNT_CAP,
      });
      return moveResult(name, direction, body.dryRun, row);
    } catch (err) {
      throw asAppError(err, name);
    }
  }

  async function parkedAction(
    filter: ParkedActionBody,
    action: 'retry' | 'skip',
  ): Promise<ParkedActionResult> {
    return withTransaction(pool, async (tx) => {
      const rows = await matchParked(tx, filter, action === 'retry');
      const matched = rows.slice(0, filter.limit);
      let acted = 0;
      if (!filter.dryRun && matched.length > 0) {
        for (const [subscription, ids] of bySubscription(matched)) {
          acted +=
            action === 'retry'
              ? await retryParked(tx, subscription, ids)
              : await skipParked(tx, subscription, ids);
        }
        await notifySubscriptionsChanged(tx);
      }
      return {
        dryRun: filter.dryRun,
        matched: matched.length,
        more: rows.length > filter.limit,
        acted,
        items: matched.map((m) => ({
          subscription: m.subscription,
          eventId: m.event_id,
          state: m.state,
          attempts: m.attempts,
        })),
      };
    });
  }

  return {
    async list() {
      const rows = await listSubscriptions(pool, { cap: COUNT_CAP });
      return { items: rows.map(detail) };
    },
    get,
    async create(body) {
      const { fromId } = await target(body);
      const start =
        body.from === 'oldest'
          ? 'oldest'
          : body.from === 'now' || fromId === null
            ? 'now'
            : 'event';
      const created = await createSubscription(pool, {
        name: body.name,
        kind: body.kind,
        eventTypes: body.eventTypes,
        start,
        fromId,
        paused: body.paused,
      });
      if (!created) {
        throw new AppError(
          'conflict',
          `subscription ${body.name} exists already; move its position instead (rewind, forward)`,
        );
      }
      return get(body.name);
    },
    async pause(name) {
      if (!(await setPaused(pool, name, true))) throw missing(name);
      return get(name);
    },
    async resume(name) {
      if (!(await setPaused(pool, name, false))) throw missing(name);
      return get(name);
    },
    rewind: (name, body) => move(name, 'rewind', body),
    forward: (name, body) => move(name, 'forward', body),
    retryParked: (filter) => parkedAction(filter, 'retry'),
    skipParked: (filter) => parkedAction(filter, 'skip'),
  };
}

function bySubscription(rows: readonly ParkedMatch[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const r of rows) map.set(r.subscription, [...(map.get(r.subscription) ?? []), r.event_id]);
  return map;
}
