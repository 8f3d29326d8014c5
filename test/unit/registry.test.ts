import type { ExternalHandler } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createRegistry } from '../../src/outbox/registry';

const everything: ExternalHandler = {
  kind: 'external',
  name: 'relay',
  eventTypes: '*',
  formerNames: ['relay-v0'],
  handle: async () => undefined,
};

describe('handler registry', () => {
  test('declares one subscription per handler, with its kind, event types and former names', () => {
    const registry = createRegistry([notifyClientHandler, everything]);
    expect(registry.names).toEqual(['notify-client', 'relay']);
    expect(registry.declarations).toEqual([
      {
        name: 'notify-client',
        kind: 'sql',
        eventTypes: ['order.status_changed'],
        formerNames: undefined,
      },
      { name: 'relay', kind: 'external', eventTypes: '*', formerNames: ['relay-v0'] },
    ]);
  });

  test('refuses two handlers with one name: the name is the subscription', () => {
    expect(() => createRegistry([everything, { ...everything }])).toThrow(
      /two handlers are named relay/,
    );
  });
});
