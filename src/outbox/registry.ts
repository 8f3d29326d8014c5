import type { ExternalHandler, TransactionalHandler } from './handler';

// Handlers are stored widened: each handler's own event types are checked where it is defined.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyTransactionalHandler = TransactionalHandler<any>;
export type AnyExternalHandler = ExternalHandler<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */
export type AnyHandler = AnyTransactionalHandler | AnyExternalHandler;

export interface HandlerRegistry {
  /** Handlers subscribed to this event type, in registration order. */
  handlersFor(eventType: string): readonly AnyHandler[];
  readonly names: readonly string[];
  /** True when some handler acts outside the database (then events are leased, not locked). */
  readonly hasExternal: boolean;
}

export function createRegistry(handlers: readonly AnyHandler[]): HandlerRegistry {
  const names = handlers.map((h) => h.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate)
    throw new Error(`two handlers are named ${duplicate}; names key their delivery state`);

  const cache = new Map<string, readonly AnyHandler[]>();
  return {
    names,
    hasExternal: handlers.some((h) => h.kind === 'external'),
    handlersFor(eventType) {
      let found = cache.get(eventType);
      if (!found) {
        found = handlers.filter(
          (h) => h.eventTypes === '*' || (h.eventTypes as readonly string[]).includes(eventType),
        );
        cache.set(eventType, found);
      }
      return found;
    },
  };
}
