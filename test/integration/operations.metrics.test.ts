import { createLogger } from '../../src/observability/logger';
import { createOutboxGauges } from '../../src/observability/outbox-gauges';
import { histogramCount, scrape } from '../helpers/prometheus';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const db = useSeededDatabase();

async function patch(baseUrl: string, id: number, status: string): Promise<void> {
  const res = await fetch(`${baseUrl}/orders/update`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, status }),
  });
  expect(res.status).toBe(200);
}

const handledOk = { event_type: 'order.status_changed', sink: 'notify-client', result: 'success' };

describe('GET /metrics', () => {
  test('parses as Prometheus text and has every family the issue names', async () => {
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
        'outbox_events',
        'outbox_lag_seconds',
        'outbox_listener_connected',
        'outbox_listener_seconds_since_last_notification',
        'http_request_duration_seconds',
        // a few of the default process metrics
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]),
    );
    expect(m.value('outbox_listener_connected')).toBe(1);
    // The route pattern, not the raw path: /orders/1 and /orders/2 share one series.
    expect(
      await histogramCount(service.metrics.registry, 'http_request_duration_seconds', {
        route: '/orders/:id',
        status_code: '200',
      }),
    ).toBe(1);
  });

  test('counters and histograms move when events are handled', async () => {
    const service = await startTestService(db.url);
    const before = (await scrape(service.url)).value('outbox_events_handled_total', handledOk);
    expect(before ?? 0).toBe(0);

    await patch(service.url, 1, 'shipped');
    await patch(service.url, 2, 'delivered');
    const after = await waitFor('two handled deliveries in /metrics', async () => {
      const m = await scrape(service.url);
      return m.value('outbox_events_handled_total', handledOk) === 2 && m;
    });
    expect(
      after.value('outbox_events_settled_total', {
        event_type: 'order.status_changed',
        outcome: 'done',
      }),
    ).toBe(2);
    const byType = { event_type: 'order.status_changed' };
    const { registry } = service.metrics;
    expect(await histogramCount(registry, 'outbox_commit_to_handled_seconds', byType)).toBe(2);
    expect(await histogramCount(registry, 'outbox_event_handling_duration_seconds', byType)).toBe(
      2,
    );
    // Two notifications reached the listener.
    expect(after.value('outbox_listener_seconds_since_last_notification')).toBeGreaterThanOrEqual(
      0,
    );
  });

  test('pending count and lag come from the database and follow the backlog', async () => {
    const service = await startTestService(db.url);
    await waitFor('an empty backlog', async () => {
      const m = await scrape(service.url);
      return m.value('outbox_events', { status: 'pending' }) === 0;
    });
    // With the dispatcher stopped, events pile up as they would behind a slow sink.
    await service.dispatcher.stop(5_000);
    await db.pool.query(`update orders set status = 'cancelled' where id in (3, 4, 5)`);
    const m = await waitFor('three pending events in /metrics', async () => {
      const s = await scrape(service.url);
      return s.value('outbox_events', { status: 'pending' }) === 3 && s;
    });
    expect(m.value('outbox_events', { status: 'dead' })).toBe(0);
    await waitFor('a lag above zero', async () => {
      const s = await scrape(service.url);
      return (s.value('outbox_lag_seconds') ?? 0) > 0;
    });
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
    expect(fresh!.pending).toBe(pendingBefore + 1);
  });
});
