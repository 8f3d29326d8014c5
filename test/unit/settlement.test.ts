import type { ExternalHandler } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { prepareJob, settlementFor } from '../../src/outbox/process-batch';
import { createRegistry } from '../../src/outbox/registry';
import type { OutboxRow } from '../../src/outbox/types';

const webhook: ExternalHandler = {
  kind: 'external',
  name: 'webhook',
  eventTypes: '*',
  handle: async () => undefined,
};
const registry = createRegistry([notifyClientHandler, webhook]);
const now = '2026-01-01T00:00:00.000Z';

function row(overrides: Partial<OutboxRow> = {}): OutboxRow {
  return {
    id: '42',
    aggregate_type: 'order',
    aggregate_id: '1',
    event_type: 'order.status_changed',
    payload: {
      op: 'update',
      table: 'orders',
      old: { status: 'paid' },
      new: { id: 1, client_id: 1, status: 'shipped', created_at: now, updated_at: now },
    },
    created_at: new Date(now),
    status: 'processing',
    attempts: 1,
    available_at: new Date(now),
    locked_until: null,
    locked_by: 'w',
    processed_at: null,
    last_error: null,
    deliveries: {},
    ...overrides,
  };
}

describe('settling an event', () => {
  test('done when every handler succeeded', () => {
    const job = prepareJob(row(), registry);
    job.results.set('notify-client', null).set('webhook', null);
    expect(settlementFor(job, 5, now)).toMatchObject({ status: 'done', lastError: null });
  });

  test('a transient failure retries, keeping what succeeded', () => {
    const job = prepareJob(row(), registry);
    job.results.set('notify-client', null).set('webhook', { error: '502', permanent: false });
    const s = settlementFor(job, 5, now);
    expect(s).toMatchObject({ status: 'pending', lastError: 'webhook: 502' });
    expect(s.deliveries['notify-client']).toMatchObject({ status: 'done', attempts: 1 });
    expect(s.deliveries.webhook).toMatchObject({ status: 'failed', attempts: 1, error: '502' });
  });

  test('only the handlers not done before run again', () => {
    const job = prepareJob(
      row({ deliveries: { 'notify-client': { status: 'done', attempts: 1, at: now } } }),
      registry,
    );
    expect(job.pending.map((h) => h.name)).toEqual(['webhook']);
  });

  test('dead after the last attempt, or at once on a permanent error', () => {
    const last = prepareJob(row({ attempts: 5 }), registry);
    last.results.set('notify-client', null).set('webhook', { error: '502', permanent: false });
    expect(settlementFor(last, 5, now).status).toBe('dead');

    const poison = prepareJob(row(), registry);
    poison.results.set('notify-client', null).set('webhook', { error: '400', permanent: true });
    expect(settlementFor(poison, 5, now).status).toBe('dead');
  });

  test('a Retry-After hint is passed on', () => {
    const job = prepareJob(row(), registry);
    job.results
      .set('notify-client', null)
      .set('webhook', { error: '429', permanent: false, retryAfterMs: 30_000 });
    expect(settlementFor(job, 5, now).retryAfterMs).toBe(30_000);
  });

  test('a payload that does not parse is dead without running any handler', () => {
    const job = prepareJob(row({ payload: { op: 'update' } }), registry);
    expect(job.event).toBeUndefined();
    expect(settlementFor(job, 5, now)).toMatchObject({
      status: 'dead',
      lastError: expect.stringMatching(/does not match/),
    });
  });
});
