import type { ExternalHandler, SqlHandler, TransactionalHandler } from './handler';
import type { SubscriptionDeclaration } from './sql/subscriptions';

// Handlers are stored widened: each handler's own event types are checked where it is defined.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyTransactionalHandler = TransactionalHandler<any>;
export type AnySqlHandler = SqlHandler<any>;
export type AnyExternalHandler = ExternalHandler<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */
/** A handler whose effect commits with the position: code given the transaction, or one statement. */
export type AnyInTransactionHandler = AnyTransactionalHandler | AnySqlHandler;
export type AnyHandler = AnyInTransactionHandler | AnyExternalHandler;

/** The handlers this process serves: one subscription each, named after the handler. */
export interface HandlerRegistry {
  readonly handlers: readonly AnyHandler[];
  readonly names: readonly string[];
  /** The subscriptions they make, as the service declares them at start. */
  readonly declarations: readonly SubscriptionDeclaration[];
}

export function createRegistry(handlers: readonly AnyHandler[]): HandlerRegistry {
  const names = handlers.map((h) => h.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new Error(`two handlers are named ${duplicate}; a name is a subscription`);
  return {
    handlers,
    names,
    declarations: handlers.map((h) => ({
      name: h.name,
      kind: h.kind,
      eventTypes: h.eventTypes,
      formerNames: h.kind === 'external' ? h.formerNames : undefined,
    })),
  };
}
