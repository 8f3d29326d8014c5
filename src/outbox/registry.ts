import type { ExternalHandler, SqlHandler, TransactionalHandler } from './handler';

// Handlers are stored widened: each handler's own event types are checked where it is defined.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyTransactionalHandler = TransactionalHandler<any>;
export type AnySqlHandler = SqlHandler<any>;
export type AnyExternalHandler = ExternalHandler<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */
/** A handler whose effect commits with the ack: code given the transaction, or one statement. */
export type AnyInTransactionHandler = AnyTransactionalHandler | AnySqlHandler;
export type AnyHandler = AnyInTransactionHandler | AnyExternalHandler;

export interface HandlerRegistry {
  /** Handlers subscribed to this event type, in registration order. */
  handlersFor(eventType: string): readonly AnyHandler[];
  readonly names: readonly string[];
  /** True when some handler acts outside the database (then events are leased, not locked). */
  readonly hasExternal: boolean;
  /** The handlers of the SQL kind, when every handler is (then a batch is one statement). */
  readonly allSql: readonly AnySqlHandler[] | undefined;
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
    allSql: handlers.every((h) => h.kind === 'sql') ? (handlers as AnySqlHandler[]) : undefined,
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
