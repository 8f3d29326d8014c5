import client from 'prom-client';
import type { OutboxEventMap, OutboxEvents } from '../outbox/events';
import type { OutboxGauges } from './outbox-gauges';
import { publicSinkName } from './public-text';

export interface Metrics {
  readonly registry: client.Registry;
  /** One HTTP request answered; `route` is the route pattern, never the raw path (cardinality). */
  observeHttp(labels: { method: string; route: string; status: number }, seconds: number): void;
  /** Unsubscribes from the outbox events. */
  close(): void;
}

export interface MetricsDeps {
  events: OutboxEvents;
  gauges: OutboxGauges;
  listener: { readonly connected: boolean; readonly lastNotificationAt: number | undefined };
  /** The subscriptions whose lease this instance holds (outbox_subscription_held). */
  held?: () => readonly string[];
  /** Default process metrics (CPU, memory, event loop lag, GC); tests may leave them out. */
  processMetrics?: boolean;
}

// Handling runs from a fraction of a millisecond (a row insert) to the webhook timeout.
const HANDLING_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
// Commit to handled spans milliseconds (healthy) to hours (retries with backoff).
const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600,
];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The service's Prometheus registry. Event counters and histograms follow the outbox events
 * (src/outbox/events.ts); the row counts and the lag come from the database through the cached
 * gauges, read when scraped; listener state is read from the listener when scraped.
 */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new client.Registry();
  if (deps.processMetrics ?? true) client.collectDefaultMetrics({ register: registry });

  const handled = new client.Counter({
    name: 'outbox_events_handled_total',
    help: 'Deliveries of an event to a subscription (sink), by event type, sink and result (success | failure)',
    labelNames: ['event_type', 'sink', 'result'] as const,
    registers: [registry],
  });
  const settled = new client.Counter({
    name: 'outbox_events_settled_total',
    help: 'Events settled in a subscription, by subscription, event type and outcome (done | retry | dead)',
    labelNames: ['subscription', 'event_type', 'outcome'] as const,
    registers: [registry],
  });
  const handling = new client.Histogram({
    name: 'outbox_event_handling_duration_seconds',
    help: "Time from the start of a subscription's round to one event settled, by subscription and event type",
    labelNames: ['subscription', 'event_type'] as const,
    buckets: HANDLING_BUCKETS,
    registers: [registry],
  });
  const commitToHandled = new client.Histogram({
    name: 'outbox_commit_to_handled_seconds',
    help: "Time from the outbox row's created_at (the writer's commit) to done, by subscription and event type",
    labelNames: ['subscription', 'event_type'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const backoffs = new client.Counter({
    name: 'outbox_subscription_backoffs_total',
    help: 'Times a subscription backed off as a whole because every call of a try failed',
    labelNames: ['subscription'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'outbox_events',
    help: 'Events by status, read from the database (cached 1 s): pending = the largest backlog of any subscription (counted up to 10,000), retrying and dead = parked in any subscription',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      if (!snapshot) return;
      this.set({ status: 'pending' }, snapshot.pending);
      this.set({ status: 'retrying' }, snapshot.retrying);
      this.set({ status: 'dead' }, snapshot.dead);
    },
  });
  new client.Gauge({
    name: 'outbox_lag_seconds',
    help: 'The largest lag of any subscription: age of the oldest event after its position; 0 when none (cached 1 s)',
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      if (snapshot) this.set(snapshot.lagSeconds);
    },
  });
  new client.Gauge({
    name: 'outbox_subscription_lag_seconds',
    help: 'Per subscription: age of the oldest event after its position; 0 when none (cached 1 s)',
    labelNames: ['subscription'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      this.reset();
      for (const s of snapshot?.subscriptions ?? [])
        this.set({ subscription: publicSinkName(s.name) }, s.lagSeconds);
    },
  });
  new client.Gauge({
    name: 'outbox_subscription_lag_events',
    help: 'Per subscription: events after its position, of every type, counted up to 10,000 (cached 1 s)',
    labelNames: ['subscription'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      this.reset();
      for (const s of snapshot?.subscriptions ?? [])
        this.set({ subscription: publicSinkName(s.name) }, s.behind);
    },
  });
  new client.Gauge({
    // Which instance holds a subscription: the one whose series is 1 (Prometheus adds the instance
    // label). A worker id as a label value would make a new series at every restart.
    name: 'outbox_subscription_held',
    help: 'Per subscription: 1 while this instance holds its lease (handles its events), else 0',
    labelNames: ['subscription'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      const held = new Set(deps.held?.() ?? []);
      this.reset();
      const names = new Set([...(snapshot?.subscriptions ?? []).map((s) => s.name), ...held]);
      for (const name of names)
        this.set({ subscription: publicSinkName(name) }, held.has(name) ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'outbox_subscription_parked_events',
    help: 'Per subscription: parked events, retrying (or waiting behind one) and dead (cached 1 s)',
    labelNames: ['subscription', 'state'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      this.reset();
      for (const s of snapshot?.subscriptions ?? []) {
        this.set({ subscription: publicSinkName(s.name), state: 'retrying' }, s.retrying);
        this.set({ subscription: publicSinkName(s.name), state: 'dead' }, s.dead);
      }
    },
  });
  new client.Gauge({
    name: 'outbox_subscription_state',
    help: 'Per subscription: 1 for its current state (active | paused | backing_off) (cached 1 s)',
    labelNames: ['subscription', 'state'] as const,
    registers: [registry],
    async collect() {
      const snapshot = await deps.gauges.read();
      this.reset();
      for (const s of snapshot?.subscriptions ?? []) {
        for (const state of ['active', 'paused', 'backing_off'] as const)
          this.set({ subscription: publicSinkName(s.name), state }, s.state === state ? 1 : 0);
      }
    },
  });
  new client.Gauge({
    name: 'outbox_listener_connected',
    help: '1 while the LISTEN connection is up, else 0',
    registers: [registry],
    collect() {
      this.set(deps.listener.connected ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'outbox_listener_seconds_since_last_notification',
    help: 'Seconds since the last NOTIFY reached the listener; absent until the first one',
    registers: [registry],
    collect() {
      const at = deps.listener.lastNotificationAt;
      this.reset();
      if (at !== undefined) this.set((Date.now() - at) / 1000);
    },
  });
  const http = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });

  function onSettled(e: OutboxEventMap['settled']): void {
    const outcome = e.status === 'retrying' ? 'retry' : e.status;
    const labels = { subscription: publicSinkName(e.subscription), event_type: e.type };
    settled.inc({ ...labels, outcome });
    handled.inc({
      event_type: e.type,
      // /metrics is anonymous: no path or query of a URL in a label (publicSinkName).
      sink: publicSinkName(e.subscription),
      result: e.status === 'done' ? 'success' : 'failure',
    });
    handling.observe(labels, e.durationMs / 1000);
    if (e.status === 'done') {
      // The database's clock and ours may differ by a little; never observe a negative latency.
      const seconds = Math.max(0, (Date.now() - e.createdAt.getTime()) / 1000);
      commitToHandled.observe(labels, seconds);
    }
  }
  function onBackoff(e: OutboxEventMap['subscription:backoff']): void {
    backoffs.inc({ subscription: publicSinkName(e.subscription) });
  }
  deps.events.on('settled', onSettled);
  deps.events.on('subscription:backoff', onBackoff);

  return {
    registry,
    observeHttp({ method, route, status }, seconds) {
      http.observe({ method, route, status_code: String(status) }, seconds);
    },
    close() {
      deps.events.off('settled', onSettled);
      deps.events.off('subscription:backoff', onBackoff);
    },
  };
}
