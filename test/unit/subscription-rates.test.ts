import { createLogger } from '../../src/observability/logger';
import { createSubscriptionRates } from '../../src/observability/subscription-rates';
import { createOutboxEvents, type OutboxEventMap } from '../../src/outbox/events';

// Throughput per subscription from this instance's settled events, on an injected clock.

function settled(subscription: string, status: 'done' | 'retrying' | 'dead') {
  return {
    subscription,
    id: '1',
    type: 'order.status_changed',
    aggregateType: 'order',
    aggregateId: '1',
    status,
    attempt: 1,
    durationMs: 1,
    createdAt: new Date(0),
    payload: null,
    error: null,
  } satisfies OutboxEventMap['settled'];
}

test('counts complete seconds only, per subscription, over the window asked for (at most 60 s)', () => {
  let now = 1_000_000;
  const events = createOutboxEvents(createLogger({ level: 'silent' }));
  const rates = createSubscriptionRates({ events, now: () => now });
  for (let i = 0; i < 20; i++) events.emit('settled', settled('a', 'done'));
  events.emit('settled', settled('a', 'retrying'));
  events.emit('settled', settled('b', 'dead'));
  // The second in progress does not count yet.
  expect(rates.rate('a', 10)).toEqual({ done: 0, failed: 0 });
  now += 1_000;
  expect(rates.rate('a', 10)).toEqual({ done: 2, failed: 0.1 });
  expect(rates.rate('a', 60)).toEqual({ done: 0.33, failed: 0.02 });
  expect(rates.rate('b', 1)).toEqual({ done: 0, failed: 1 });
  expect(rates.rate('nobody', 10)).toEqual({ done: 0, failed: 0 });
  now += 10_000;
  expect(rates.rate('a', 10)).toEqual({ done: 0, failed: 0 });
  expect(rates.rate('a', 600)).toEqual(rates.rate('a', 60));
  now += 60_000;
  expect(rates.rate('a', 60)).toEqual({ done: 0, failed: 0 });
  rates.close();
  events.emit('settled', settled('a', 'done'));
  now += 1_000;
  expect(rates.rate('a', 1)).toEqual({ done: 0, failed: 0 });
});
