import pino from 'pino';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { ADMIN_TOKEN, adminCall, changeOrder } from '../helpers/admin-api';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { scrape } from '../helpers/prometheus';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Creating a subscription from the admin API before any instance serves it (a webhook added to a
// running deployment, given history): from a time, from the oldest event retained, from now. Its
// progress shows as lag that shrinks once an instance serves it.

const db = useSeededDatabase();

/** A running deployment: one instance serving the built-in subscription, admin API on. */
const deployment = () =>
  startTestService(db.url, { env: { ADMIN_TOKEN }, handlers: [notifyClientHandler] });

describe('a subscription created from the admin API', () => {
  test('from a time: it gets exactly the events written since, and its lag shrinks to zero once served', async () => {
    const running = await deployment();
    const before = [await changeOrder(db.pool, 1), await changeOrder(db.pool, 2)];
    const { rows } = await db.pool.query<{ t: Date }>('select clock_timestamp() as t');
    const since = [
      await changeOrder(db.pool, 3),
      await changeOrder(db.pool, 4),
      await changeOrder(db.pool, 5),
    ];

    const created = await adminCall(running.url, '/subscriptions', {
      method: 'POST',
      body: { name: 'webhook:crm', fromTime: rows[0]!.t.toISOString() },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'webhook:crm',
      kind: 'external',
      eventTypes: null,
      state: 'active',
      holder: null,
      lag: { events: 3, more: false },
      position: { next: { id: since[0] }, batch: { cursor: String(BigInt(since[0]!) - 1n) } },
    });
    // Nobody serves it yet: it lags, visibly, and loses nothing.
    const lagging = await waitFor('its lag in /metrics', async () => {
      const m = await scrape(running.url);
      return m.value('outbox_subscription_lag_events', { subscription: 'webhook:crm' }) === 3 && m;
    });
    expect(
      lagging.value('outbox_subscription_lag_seconds', { subscription: 'webhook:crm' }),
    ).toBeGreaterThan(0);
    expect(lagging.value('outbox_subscription_held', { subscription: 'webhook:crm' })).toBe(0);

    // The configuration rolls out: an instance serving it declares it (its position kept).
    const crm = createCallLog();
    const serving = await startTestService(db.url, {
      handlers: [recordingHandler(crm, { name: 'webhook:crm', eventTypes: '*' })],
    });
    await waitUntilDelivered(db.pool, ['webhook:crm']);
    expect(crm.calls.map((c) => c.id)).toEqual(since);
    for (const id of before) expect(await deliveryOf(db.pool, id, 'webhook:crm')).toBeUndefined();
    await waitFor('its lag back to zero in /metrics', async () => {
      const m = await scrape(running.url);
      return (
        m.value('outbox_subscription_lag_events', { subscription: 'webhook:crm' }) === 0 &&
        m.value('outbox_subscription_lag_seconds', { subscription: 'webhook:crm' }) === 0
      );
    });
    const m = await scrape(serving.url);
    expect(m.value('outbox_subscription_held', { subscription: 'webhook:crm' })).toBe(1);
    const shown = await adminCall(running.url, '/subscriptions/webhook:crm');
    expect(shown.body).toMatchObject({
      eventTypes: null,
      lag: { events: 0 },
      holder: expect.any(String),
    });
  });

  test('from the oldest event retained, created paused: it catches up once resumed', async () => {
    const running = await deployment();
    const old = [await changeOrder(db.pool, 1), await changeOrder(db.pool, 2)];
    const created = await adminCall(running.url, '/subscriptions', {
      method: 'POST',
      body: { name: 'history', from: 'oldest', paused: true, eventTypes: ['order.status_changed'] },
    });
    expect(created.body).toMatchObject({ state: 'paused', position: { snapshot: '1:1:' } });
    // The seed's 12 order.created and the two changes are after its position.
    expect(created.body.lag.events).toBe(14);

    const history = createCallLog();
    // Its lane may find it paused before a listener could be attached to the service's events:
    // its log says so.
    const lines: string[] = [];
    await startTestService(db.url, {
      handlers: [recordingHandler(history, { name: 'history' })],
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    await waitFor('its lane to find it paused', () =>
      lines.some((l) => l.includes('"history"') && l.includes('paused by an operator')),
    );
    expect(history.calls).toEqual([]);
    await adminCall(running.url, '/subscriptions/history/resume', { method: 'POST' });
    await waitUntilDelivered(db.pool, ['history']);
    expect(history.calls.map((c) => c.id)).toEqual(old);
  });

  test('from now: only what is written after; an existing name is a 409, a bad one a 400', async () => {
    const running = await deployment();
    await changeOrder(db.pool, 1);
    const res = await adminCall(running.url, '/subscriptions', {
      method: 'POST',
      body: { name: 'fresh', from: 'now' },
    });
    expect(res.body).toMatchObject({ lag: { events: 0 }, position: { batch: null, next: null } });
    const fresh = createCallLog();
    await startTestService(db.url, {
      handlers: [recordingHandler(fresh, { name: 'fresh' })],
    });
    const after = await changeOrder(db.pool, 2);
    await waitFor('the new event delivered', () => fresh.calls.length === 1);
    await waitUntilDelivered(db.pool, ['fresh']);
    expect(fresh.calls.map((c) => c.id)).toEqual([after]);

    const again = await adminCall(running.url, '/subscriptions', {
      method: 'POST',
      body: { name: 'fresh', from: 'oldest' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/exists already/);
    for (const body of [
      { name: 'has space', from: 'now' },
      { name: 'x', from: 'now', kind: 'cron' },
      { name: 'x' },
      { name: 'x', from: 'now', eventTypes: [] },
      { name: 'x', fromId: '1', fromTime: '2024-01-01T00:00:00Z' },
    ]) {
      const bad = await adminCall(running.url, '/subscriptions', { method: 'POST', body });
      expect([body, bad.status]).toEqual([body, 400]);
    }
  });
});
