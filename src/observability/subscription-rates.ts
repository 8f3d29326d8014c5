import type { OutboxEventMap, OutboxEvents } from '../outbox/events';

/** Per-second counts kept per subscription: the longest window asked for. */
export const RATE_WINDOW_SECONDS = 60;

export interface Rate {
  /** Events settled done per second. */
  done: number;
  /** Tries that failed (parked to retry, or dead) per second. */
  failed: number;
}

/**
 * Throughput per subscription, as this instance sees it: from the `settled` events of its own
 * lanes. Only the lease holder handles a subscription's events, so the holder's rate is the
 * subscription's; another instance's is 0. (The database records no per-event outcome: that is
 * the point of the log. Prometheus sums the instances: outbox_events_settled_total.)
 */
export interface SubscriptionRates {
  /** Over the last `seconds` complete seconds (at most RATE_WINDOW_SECONDS). */
  rate(subscription: string, seconds: number): Rate;
  close(): void;
}

interface Bucket {
  t: number;
  done: number;
  failed: number;
}

export function createSubscriptionRates(deps: {
  events: OutboxEvents;
  /** Milliseconds since the epoch; tests inject a clock. */
  now?: () => number;
}): SubscriptionRates {
  const now = deps.now ?? Date.now;
  const buckets = new Map<string, Bucket[]>();

  function onSettled(e: OutboxEventMap['settled']): void {
    const t = Math.floor(now() / 1000);
    let list = buckets.get(e.subscription);
    if (!list) buckets.set(e.subscription, (list = []));
    let last = list[list.length - 1];
    if (last?.t !== t) {
      last = { t, done: 0, failed: 0 };
      list.push(last);
      while (list.length > 0 && list[0]!.t <= t - RATE_WINDOW_SECONDS - 1) list.shift();
    }
    if (e.status === 'done') last.done++;
    else last.failed++;
  }
  deps.events.on('settled', onSettled);

  return {
    rate(subscription, seconds) {
      const window = Math.min(Math.max(1, seconds), RATE_WINDOW_SECONDS);
      const current = Math.floor(now() / 1000);
      let done = 0;
      let failed = 0;
      for (const b of buckets.get(subscription) ?? []) {
        if (b.t >= current - window && b.t < current) {
          done += b.done;
          failed += b.failed;
        }
      }
      const round = (n: number) => Math.round((n / window) * 100) / 100;
      return { done: round(done), failed: round(failed) };
    },
    close() {
      deps.events.off('settled', onSettled);
    },
  };
}
