import { createLogger } from '../../src/observability/logger';
import { createOutboxGauges } from '../../src/observability/outbox-gauges';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { waitUntilDelivered } from '../helpers/deliveries';
import { histogramCount, scrape, type Scrape } from '../helpers/prometheus';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';
import { ADMIN_TOKEN, adminCall, changeOrder } from '../helpers/admin-api';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';

const db = useSeededDatabase();

async function patch(baseUrl: string, id: number, status: string): Promise<void> {
  const res = await fetch(`${baseUrl}/orders/update`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, status }),
  });
  expect(res.status).toBe(200);
}

/** Scrapes until `ready` holds (the database gauges are cached for a second). */
function scrapeUntil(baseUrl: string, what: string, ready: (m: Scrape) => boolean) {
  return waitFor(what, async () => {
    const m = await scrape(baseUrl);
    return ready(m) && m;
  });
}

const statusChanged = { event_type: 'order.status_changed' };
const handledOk = { ...statusChanged, sink: 'notify-client', result: 'success' };

describe('GET /metrics', () => {
  test('parses as Prometheus text and has every family, per subscription too', async () => {
    const service = await startTestService(db.url);
    await fetch(`${service.url}/orders/1`);
    const m = await scrape(service.url);
    const names = m.families.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'outbox_events_handled_total',
        'outbox_events_settled_total',
        'outbox_event_handling_duration_seconds',
        'outbox_commit_to_handled_seconds',
        'outbox_subscription_backoffs_total',
        'outbox_events',
        'outbox_lag_seconds',
        'outbox_subscription_lag_seconds',
        'outbox_subscription_lag_events',
        'outbox_subscription_held',
        'outbox_subscription_parked_events',
        'outbox_subscription_state',
        'outbox_listener_connected',
        'outbox_listener_seconds_since_last_notification',
        'http_request_duration_seconds',
        // a few of the default process metrics
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]),
    );
    expect(m.value('outbox_listener_connected')).toBe(1);
    const notifyClient = { subscription: 'notify-client' };
    expect(m.value('outbox_subscription_state', { ...notifyClient, state: 'active' })).toBe(1);
    expect(m.value('outbox_subscription_state', { ...notifyClient, state: 'paused' })).toBe(0);
    expect(m.value('outbox_subscription_state', { ...notifyClient, state: 'backing_off' })).toBe(0);
    expect(m.value('outbox_subscription_lag_seconds', notifyClient)).toEqual(expect.any(Number));
    expect(
      m.value('outbox_subscription_parked_events', { ...notifyClient, state: 'retrying' }),
    ).toBe(0);
    expect(m.value('outbox_subscription_parked_events', { ...notifyClient, state: 'dead' })).toBe(
      0,
    );
    // The route pattern, not the raw path: /orders/1 and /orders/2 share one series.
    expect(
      await histogramCount(service.metrics.registry, 'http_request_duration_seconds', {
        route: '/orders/:id',
        status_code: '200',
      }),
    ).toBe(1);
  });

  test('counters and histograms move when events are handled, labelled by subscription', async () => {
    const service = await startTestService(db.url);
    const before = (await scrape(service.url)).value('outbox_events_handled_total', handledOk);
    expect(before ?? 0).toBe(0);

    await patch(service.url, 1, 'shipped');
    await patch(service.url, 2, 'delivered');
    const after = await scrapeUntil(
      service.url,
      'two handled deliveries in /metrics',
      (m) => m.value('outbox_events_handled_total', handledOk) === 2,
    );
    const bySubscription = { subscription: 'notify-client', ...statusChanged };
    expect(after.value('outbox_events_settled_total', { ...bySubscription, outcome: 'done' })).toBe(
      2,
    );
    const { registry } = service.metrics;
    expect(await histogramCount(registry, 'outbox_commit_to_handled_seconds', bySubscription)).toBe(
      2,
    );
    expect(
      await histogramCount(registry, 'outbox_event_handling_duration_seconds', bySubscription),
    ).toBe(2);
    // Two notifications reached the listener.
    expect(after.value('outbox_listener_seconds_since_last_notification')).toBeGreaterThanOrEqual(
      0,
    );
  });

  test('per subscription: parked and dead events, a back-off, and the lag of one nobody serves', async () => {
    // picky refuses order 2 for good and order 3 for now (its retry an hour away); down fails
    // every call, so it backs off as a whole. The service serves only these two: notify-client
    // (created by the migration) lags behind the seed's events and these.
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        if (event.aggregateId === '2') throw new PermanentError('never order 2');
        if (event.aggregateId === '3') throw new Error('not order 3 yet');
      },
    };
    const down: ExternalHandler = {
      kind: 'external',
      name: 'down',
      eventTypes: ['order.status_changed'],
      async handle() {
        throw new Error('connection refused');
      },
    };
    const service = await startTestService(db.url, {
      env: { OUTBOX_RETRY_BASE_MS: '3600000' },
      handlers: [picky, down],
    });
    // One transaction: the three events are one chunk, so picky's failures are among successes.
    await db.pool.query(`update orders set status = 'cancelled' where id in (1, 2, 3)`);

    const m = await scrapeUntil(
      service.url,
      'picky parked and down backing off in /metrics',
      (s) =>
        s.value('outbox_subscription_parked_events', { subscription: 'picky', state: 'dead' }) ===
          1 &&
        s.value('outbox_subscription_parked_events', {
          subscription: 'picky',
          state: 'retrying',
        }) === 1 &&
        s.value('outbox_subscription_state', { subscription: 'down', state: 'backing_off' }) === 1,
    );
    const settled = (subscription: string, outcome: string) =>
      m.value('outbox_events_settled_total', { subscription, ...statusChanged, outcome });
    expect([settled('picky', 'done'), settled('picky', 'retry'), settled('picky', 'dead')]).toEqual(
      [1, 1, 1],
    );
    expect(
      m.value('outbox_events_handled_total', {
        sink: 'picky',
        ...statusChanged,
        result: 'failure',
      }),
    ).toBe(2);
    expect(m.value('outbox_subscription_backoffs_total', { subscription: 'down' })).toBe(1);
    // Nothing of down's was parked: it backs off as a whole.
    expect(
      m.value('outbox_subscription_parked_events', { subscription: 'down', state: 'retrying' }),
    ).toBe(0);
    expect(m.value('outbox_subscription_state', { subscription: 'down', state: 'active' })).toBe(0);
    expect(m.value('outbox_subscription_state', { subscription: 'picky', state: 'active' })).toBe(
      1,
    );
    expect(m.value('outbox_subscription_lag_seconds', { subscription: 'picky' })).toBe(0);
    expect(
      m.value('outbox_subscription_lag_seconds', { subscription: 'notify-client' }),
    ).toBeGreaterThan(0);
    // The totals: the largest backlog (notify-client: 12 seed events and 3 changes), and the
    // parked events of every subscription.
    expect(m.value('outbox_events', { status: 'pending' })).toBe(15);
    expect(m.value('outbox_events', { status: 'retrying' })).toBe(1);
    expect(m.value('outbox_events', { status: 'dead' })).toBe(1);
    expect(m.value('outbox_lag_seconds')).toBe(
      m.value('outbox_subscription_lag_seconds', { subscription: 'notify-client' }),
    );
  });

  test('the backlog and lag follow the database: they grow while nobody reads, and shrink once someone does', async () => {
    const service = await startTestService(db.url);
    await scrapeUntil(
      service.url,
      'an empty backlog',
      (m) => m.value('outbox_events', { status: 'pending' }) === 0,
    );
    // With the dispatcher stopped, events pile up as they would behind a slow sink.
    await service.dispatcher.stop(5_000);
    await db.pool.query(`update orders set status = 'cancelled' where id in (3, 4, 5)`);
    const behind = await scrapeUntil(
      service.url,
      'three events behind, and a lag, in /metrics',
      (s) =>
        s.value('outbox_events', { status: 'pending' }) === 3 &&
        (s.value('outbox_subscription_lag_seconds', { subscription: 'notify-client' }) ?? 0) > 0,
    );
    expect(behind.value('outbox_events', { status: 'dead' })).toBe(0);
    expect(behind.value('outbox_lag_seconds')).toBeGreaterThan(0);

    // Another instance takes the subscription over: the first one's gauges see it catch up.
    await startTestService(db.url);
    await waitUntilDelivered(db.pool, ['notify-client']);
    await scrapeUntil(
      service.url,
      'the backlog and the lag back to zero',
      (s) =>
        s.value('outbox_events', { status: 'pending' }) === 0 &&
        s.value('outbox_subscription_lag_seconds', { subscription: 'notify-client' }) === 0 &&
        s.value('outbox_lag_seconds') === 0,
    );
  });
});

describe('per-subscription lag that moves', () => {
  test('paused through the admin API: its lag in events and seconds grows while the other stays at 0; resumed: back to 0', async () => {
    const a = createCallLog();
    const b = createCallLog();
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN },
      handlers: [recordingHandler(a, { name: 'a' }), recordingHandler(b, { name: 'b' })],
    });
    const lag = (m: Scrape, subscription: string) => ({
      events: m.value('outbox_subscription_lag_events', { subscription }),
      seconds: m.value('outbox_subscription_lag_seconds', { subscription }),
    });
    const start = await scrapeUntil(
      service.url,
      'a and b held here, nothing behind',
      (m) =>
        m.value('outbox_subscription_held', { subscription: 'a' }) === 1 &&
        m.value('outbox_subscription_held', { subscription: 'b' }) === 1 &&
        lag(m, 'a').events === 0,
    );
    // notify-client exists (the migration made it) but this instance does not serve it.
    expect(start.value('outbox_subscription_held', { subscription: 'notify-client' })).toBe(0);

    await adminCall(service.url, '/subscriptions/a/pause', { method: 'POST' });
    await changeOrder(db.pool, 1);
    const one = await scrapeUntil(
      service.url,
      'a one event behind',
      (m) => lag(m, 'a').events === 1,
    );
    expect(one.value('outbox_subscription_state', { subscription: 'a', state: 'paused' })).toBe(1);
    await changeOrder(db.pool, 2);
    await changeOrder(db.pool, 3);
    const three = await scrapeUntil(
      service.url,
      'a three events behind, and older',
      (m) => lag(m, 'a').events === 3 && lag(m, 'a').seconds! > lag(one, 'a').seconds!,
    );
    await waitUntilDelivered(db.pool, ['b']);
    expect(lag(three, 'a').seconds).toBeGreaterThan(0);
    const bNow = await scrapeUntil(service.url, 'b caught up', (m) => lag(m, 'b').events === 0);
    expect(lag(bNow, 'b')).toEqual({ events: 0, seconds: 0 });

    await adminCall(service.url, '/subscriptions/a/resume', { method: 'POST' });
    const after = await scrapeUntil(
      service.url,
      'a caught up',
      (m) => lag(m, 'a').events === 0 && lag(m, 'a').seconds === 0,
    );
    expect(after.value('outbox_subscription_state', { subscription: 'a', state: 'active' })).toBe(
      1,
    );
    expect(a.calls).toHaveLength(3);
  });
});

describe('the database gauges', () => {
  test('are read once per ttl whoever asks, so scrapes cannot load the database', async () => {
    const gauges = createOutboxGauges({
      pool: db.pool,
      logger: createLogger({ level: 'silent' }),
      ttlMs: 60_000,
    });
    const [a, b] = await Promise.all([gauges.read(), gauges.read()]);
    expect(a).toBe(b); // concurrent readers share one query
    const pendingBefore = a!.pending;
    await db.pool.query(`update orders set status = 'cancelled' where id = 1`);
    const cached = await gauges.read();
    expect(cached).toBe(a);
    expect(cached!.pending).toBe(pendingBefore);

    const fresh = await createOutboxGauges({
      pool: db.pool,
      logger: createLogger({ level: 'silent' }),
      ttlMs: 0,
    }).read();
    // No service runs: notify-client's backlog is the seed's events, and now one more.
    expect(pendingBefore).toBe(12);
    expect(fresh!.pending).toBe(pendingBefore + 1);
  });
});
