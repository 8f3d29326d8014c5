import type { OutboxEventMap, OutboxEvents } from '../outbox/events';
import type { OutboxGauges } from './outbox-gauges';
import { publicColumnChange, publicSinkName, redactPublicError } from './public-text';
import type { SubscriptionRates } from './subscription-rates';

/** One event settled in one subscription, as the live page shows it. */
export interface LiveEvent {
  id: string;
  /** The subscription (sink) that delivered it: an event shows once per subscription. */
  subscription: string;
  type: string;
  aggregate: string;
  status: 'done' | 'retry' | 'dead';
  attempt: number;
  /** What changed, e.g. "status: paid → shipped", when the payload says. */
  change: string | null;
  durationMs: number;
  /** From the writer's commit (created_at) to now. */
  latencyMs: number;
  error: string | null;
  at: string;
}

/** Events settled by this instance during one second (t: Unix seconds). */
export interface ThroughputPoint {
  t: number;
  done: number;
  failed: number;
}

/** One subscription as the live page shows it. */
export interface LiveSubscription {
  name: string;
  state: 'active' | 'paused' | 'backing_off';
  /** Backing off as a whole until then (ISO 8601). */
  backoffUntil: string | null;
  lagSeconds: number;
  /** Events after its position (of every type), counted up to 10,000. */
  behind: number;
  retrying: number;
  dead: number;
  /** Events this instance settled done in it per second, last 10 s (its lease holder's is its). */
  perSecond: number;
}

export interface LiveStats {
  /** The largest backlog of any subscription (events after its position, counted up to 10,000). */
  pending: number;
  /** Parked events being retried, in all subscriptions. */
  retrying: number;
  dead: number;
  /** The largest lag of any subscription. */
  lagSeconds: number;
  subscriptions: LiveSubscription[];
  listenerConnected: boolean;
  /** Events this instance settled as done since it started. */
  handledSinceStart: number;
  at: string;
}

export type LiveMessage =
  | { event: 'settled'; data: LiveEvent }
  | { event: 'stats'; data: LiveStats & { point: ThroughputPoint } };

export interface LiveSubscriber {
  send(message: LiveMessage): void;
  /** Called by close(): the service is stopping. */
  end(): void;
}

export interface LiveFeed {
  /** What a new page starts with: the latest events, the throughput history, the stats now. */
  snapshot(): Promise<{ recent: LiveEvent[]; history: ThroughputPoint[]; stats: LiveStats }>;
  subscribe(subscriber: LiveSubscriber): () => void;
  /** Ends every subscriber (their HTTP streams would otherwise hold the server open) and stops. */
  close(): void;
}

const RECENT_EVENTS = 50;
/** Five minutes of per-second points: the page's chart. */
const HISTORY_SECONDS = 300;
const STATS_EVERY_MS = 1_000;

/**
 * "status: paid → shipped" from a capture-trigger payload ({ op, new, old }); null otherwise. Only
 * public columns show their values (publicColumnChange): the page and its stream are anonymous.
 */
export function describeChange(payload: unknown): string | null {
  if (!payload || typeof payload !== 'object') return null;
  const p = payload as { op?: unknown; new?: unknown; old?: unknown };
  if (p.op === 'insert') return 'created';
  if (p.op === 'delete') return 'deleted';
  if (p.op !== 'update' || !p.old || typeof p.old !== 'object') return null;
  const now = (p.new ?? {}) as Record<string, unknown>;
  const parts = Object.entries(p.old as Record<string, unknown>)
    .filter(([k]) => k !== 'updated_at')
    .map(([k, before]) => publicColumnChange(k, before, now[k]));
  return parts.length > 0 ? parts.join(', ') : null;
}

/**
 * Feeds the live page: settled events as they happen (this instance's), a per-second throughput
 * history kept in memory, and once a second the row counts and lag (the cached gauges, shared by
 * every open page) while at least one page is open.
 */
export function createLiveFeed(deps: {
  events: OutboxEvents;
  gauges: OutboxGauges;
  listener: { readonly connected: boolean };
  rates?: SubscriptionRates;
}): LiveFeed {
  const subscribers = new Set<LiveSubscriber>();
  const recent: LiveEvent[] = [];
  const history = new Map<number, ThroughputPoint>();
  let handledSinceStart = 0;
  let ticker: NodeJS.Timeout | undefined;

  function pointAt(t: number): ThroughputPoint {
    let point = history.get(t);
    if (!point) {
      point = { t, done: 0, failed: 0 };
      history.set(t, point);
      for (const old of history.keys()) if (old <= t - HISTORY_SECONDS) history.delete(old);
    }
    return point;
  }

  function broadcast(message: LiveMessage): void {
    for (const s of subscribers) s.send(message);
  }

  function onSettled(e: OutboxEventMap['settled']): void {
    const status = e.status === 'retrying' ? 'retry' : e.status;
    const point = pointAt(Math.floor(Date.now() / 1000));
    if (status === 'done') {
      point.done++;
      handledSinceStart++;
    } else point.failed++;
    const event: LiveEvent = {
      id: e.id,
      subscription: publicSinkName(e.subscription),
      type: e.type,
      aggregate: `${e.aggregateType}:${e.aggregateId}`,
      status,
      attempt: e.attempt,
      change: describeChange(e.payload),
      durationMs: Math.round(e.durationMs * 100) / 100,
      latencyMs: Math.max(0, Date.now() - e.createdAt.getTime()),
      error: redactPublicError(e.error),
      at: new Date().toISOString(),
    };
    recent.unshift(event);
    recent.length = Math.min(recent.length, RECENT_EVENTS);
    broadcast({ event: 'settled', data: event });
  }
  deps.events.on('settled', onSettled);

  async function stats(): Promise<LiveStats> {
    const g = await deps.gauges.read();
    return {
      pending: g?.pending ?? 0,
      retrying: g?.retrying ?? 0,
      dead: g?.dead ?? 0,
      lagSeconds: g?.lagSeconds ?? 0,
      subscriptions: (g?.subscriptions ?? []).map((s) => ({
        name: publicSinkName(s.name),
        state: s.state,
        backoffUntil: s.backoffUntil?.toISOString() ?? null,
        lagSeconds: s.lagSeconds,
        behind: s.behind,
        retrying: s.retrying,
        dead: s.dead,
        perSecond: deps.rates?.rate(s.name, 10).done ?? 0,
      })),
      listenerConnected: deps.listener.connected,
      handledSinceStart,
      at: new Date().toISOString(),
    };
  }

  async function tick(): Promise<void> {
    // The point of the second that just ended: complete, so the chart never shows a half second.
    const point = pointAt(Math.floor(Date.now() / 1000) - 1);
    broadcast({ event: 'stats', data: { ...(await stats()), point } });
  }

  return {
    async snapshot() {
      const now = Math.floor(Date.now() / 1000);
      const points: ThroughputPoint[] = [];
      for (let t = now - HISTORY_SECONDS + 1; t < now; t++) {
        points.push(history.get(t) ?? { t, done: 0, failed: 0 });
      }
      return { recent: [...recent], history: points, stats: await stats() };
    },
    subscribe(subscriber) {
      subscribers.add(subscriber);
      if (!ticker) {
        ticker = setInterval(() => void tick(), STATS_EVERY_MS);
        ticker.unref();
      }
      return () => {
        subscribers.delete(subscriber);
        if (subscribers.size === 0) {
          clearInterval(ticker);
          ticker = undefined;
        }
      };
    },
    close() {
      deps.events.off('settled', onSettled);
      clearInterval(ticker);
      ticker = undefined;
      for (const s of [...subscribers]) s.end();
      subscribers.clear();
    },
  };
}
