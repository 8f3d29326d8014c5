import type { ExternalHandler } from '../../src/outbox/handler';

export interface HandledCall {
  id: string;
  aggregateId: string;
  attempt: number;
  /** Which service instance ran it (the tag given to recordingHandler). */
  by: string;
}

/**
 * A shared log of handler calls, for tests that check "each event handled once, in order per
 * order" across several in-process service instances.
 */
export interface CallLog {
  calls: HandledCall[];
  /** Event ids handled more than once. */
  duplicates(): string[];
  /** Per aggregate, the ids in the order they were handled. */
  byAggregate(): Map<string, string[]>;
}

export function createCallLog(): CallLog {
  const calls: HandledCall[] = [];
  return {
    calls,
    duplicates() {
      const seen = new Map<string, number>();
      for (const c of calls) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
      return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    },
    byAggregate() {
      const map = new Map<string, string[]>();
      for (const c of calls) {
        const list = map.get(c.aggregateId) ?? [];
        list.push(c.id);
        map.set(c.aggregateId, list);
      }
      return map;
    },
  };
}

/**
 * An external handler that records every call in `log` and then asks `behave` what to do (throw to
 * fail). Named `name`, so two of them on one event keep separate delivery state.
 */
export function recordingHandler(
  log: CallLog,
  opts: {
    name?: string;
    by?: string;
    eventTypes?: readonly string[] | '*';
    behave?: (call: HandledCall) => Promise<void> | void;
  } = {},
): ExternalHandler {
  return {
    kind: 'external',
    name: opts.name ?? 'recorder',
    eventTypes: opts.eventTypes ?? ['order.status_changed'],
    async handle(event) {
      const call = {
        id: event.id,
        aggregateId: event.aggregateId,
        attempt: event.attempt,
        by: opts.by ?? 'service',
      };
      log.calls.push(call);
      await opts.behave?.(call);
    },
  };
}

/** True when every list is strictly increasing by (bigint) id. */
export function inIdOrder(ids: string[]): boolean {
  return ids.every((id, i) => i === 0 || BigInt(ids[i - 1]!) < BigInt(id));
}
