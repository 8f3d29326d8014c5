import type { ExternalHandler, TransactionalHandler } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createRegistry } from '../../src/outbox/registry';

const everything: ExternalHandler = {
  kind: 'external',
  name: 'relay',
  eventTypes: '*',
  handle: async () => undefined,
};

describe('handler registry', () => {
  test('finds the handlers subscribed to a type, and the catch-all ones', () => {
    const registry = createRegistry([notifyClientHandler, everything]);
    expect(registry.handlersFor('order.status_changed').map((h) => h.name)).toEqual([
      'notify-client',
      'relay',
    ]);
    expect(registry.handlersFor('order.created').map((h) => h.name)).toEqual(['relay']);
    expect(registry.handlersFor('item.price_changed').map((h) => h.name)).toEqual(['relay']);
  });

  test('a batch is one statement only when every handler is an SQL handler', () => {
    expect(createRegistry([notifyClientHandler]).allSql).toEqual([notifyClientHandler]);
    expect(createRegistry([notifyClientHandler, everything]).allSql).toBeUndefined();
    const inCode: TransactionalHandler = {
      kind: 'transactional',
      name: 'in-code',
      eventTypes: '*',
      handleBatch: async () => undefined,
    };
    expect(createRegistry([notifyClientHandler, inCode]).allSql).toBeUndefined();
  });

  test('refuses two handlers with one name: the name keys their delivery state', () => {
    expect(() => createRegistry([everything, { ...everything }])).toThrow(
      /two handlers are named relay/,
    );
  });
});
