import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Config } from './config/env';
import { createAdminService } from './admin/admin.service';
import { createSubscriptionsService } from './admin/subscriptions.service';
import { createPool } from './db/pool';
import { latestMigrationVersion, seed } from './db/migrate';
import { ensureSchema } from './db/schema-check';
import { errorMessage } from './db/errors';
import { buildApp } from './http/app';
import { createHttpServer } from './http/http-server';
import { httpOptions } from './http/http-options';
import type { ReadinessCheck } from './http/routes/health';
import { createLiveFeed } from './observability/live-feed';
import type { Logger } from './observability/logger';
import { createMetrics, type Metrics } from './observability/metrics';
import { createOutboxGauges } from './observability/outbox-gauges';
import { createSubscriptionRates } from './observability/subscription-rates';
import { createOrdersService } from './orders/orders.service';
import { createDispatcher, type Dispatcher } from './outbox/dispatcher';
import { createOutboxEvents, type OutboxEvents } from './outbox/events';
import { appHandlers } from './outbox/handlers';
import {
  createListener,
  OPERATOR_NOTIFY_PAYLOAD,
  type HeartbeatOptions,
  type Listener,
} from './outbox/listener';
import { createRegistry, type AnyHandler } from './outbox/registry';
import { createRetention, type Retention } from './outbox/retention';
import { createWakeGate } from './outbox/wake-gate';
import { sinkHandler, type Sink } from './sinks/sink';
import { publicSinkName } from './observability/public-text';
import { createSinkHealth } from './sinks/sink-health';
import { closeSinks, createSinks } from './sinks/sink-registry';

export interface ServiceOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  /** Apply db/seed after migrating (the embedded development database). */
  seed?: boolean;
  /** Handlers to run; the built-in set and the configured sinks when omitted (tests inject their own). */
  handlers?: AnyHandler[];
  /** Listen on this port instead of config.PORT (0: any free port). */
  port?: number;
  /** The listener's self-NOTIFY heartbeat; tests shorten it. */
  heartbeat?: Partial<HeartbeatOptions>;
}

export interface Service {
  pool: pg.Pool;
  server: http.Server;
  url: string;
  dispatcher: Dispatcher;
  listener: Listener;
  events: OutboxEvents;
  metrics: Metrics;
  retention: Retention;
  /** Stops in order: retention, HTTP (and live streams), listener, dispatcher (draining within the deadline), sinks, pools. */
  stop(): Promise<void>;
}

/** The application's handlers (the notification record), then one per sink turned on. */
export function builtInHandlers(sinks: readonly Sink[] = []): AnyHandler[] {
  return [...appHandlers, ...sinks.map(sinkHandler)];
}

/** The composition root: config -> pool -> migrations -> app + listener + dispatcher. */
export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config, logger } = opts;
  const pool = createPool({
    connectionString: opts.databaseUrl,
    max: config.PG_POOL_MAX,
    logger,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
  });
  try {
    await ensureSchema(pool, logger.child({ component: 'migrate' }));
    if (opts.seed) await seed(pool, logger.child({ component: 'seed' }));
  } catch (err) {
    await pool.end();
    throw err;
  }
  const expectedVersion = await latestMigrationVersion();
  // The dispatcher's own connections: under API load the shared pool's queue is long, and an
  // event must not wait behind it (shared by the subscriptions' lanes, plus one for leases and
  // wake-up flag writes). Their commits need not wait for the WAL flush
  // (OUTBOX_SYNCHRONOUS_COMMIT, default off): a crash can only lose the last fraction of a second
  // of them, effects and positions together, and those events are handled again
  // (docs/guarantees.md). Writers' commits stay durable.
  const dispatchPool = createPool({
    connectionString: opts.databaseUrl,
    max: config.OUTBOX_CONCURRENCY + 1,
    logger,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    synchronousCommit: config.OUTBOX_SYNCHRONOUS_COMMIT,
  });

  const events = createOutboxEvents(logger);
  const sinks = opts.handlers ? [] : createSinks({ config, pool: dispatchPool, logger });
  const sinkHealth = createSinkHealth({ events, logger });
  const registry = createRegistry(opts.handlers ?? builtInHandlers(sinks));
  const dispatcher = createDispatcher({
    pool: dispatchPool,
    registry,
    logger,
    events,
    options: {
      batchSize: config.OUTBOX_BATCH_SIZE,
      maxAttempts: config.OUTBOX_MAX_ATTEMPTS,
      leaseMs: config.OUTBOX_LEASE_MS,
      pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
      backoff: { baseMs: config.OUTBOX_RETRY_BASE_MS, maxMs: config.OUTBOX_RETRY_MAX_MS },
      subscriptionStart: config.OUTBOX_SUBSCRIPTION_START,
    },
    wakeGate:
      config.OUTBOX_WAKEUP === 'gated'
        ? (workerId) => createWakeGate({ pool: dispatchPool, workerId, logger })
        : undefined,
  });
  const listener = createListener({
    connectionString: opts.databaseUrl,
    logger,
    events,
    // An operator's action (src/admin) says 'subscriptions'; after a reconnect (undefined) one may
    // have been missed too.
    onWake: (payload) =>
      payload === undefined || payload === OPERATOR_NOTIFY_PAYLOAD
        ? dispatcher.refresh()
        : dispatcher.nudge(),
    pool,
    heartbeat: opts.heartbeat,
  });

  const gauges = createOutboxGauges({ pool, logger });
  const rates = createSubscriptionRates({ events });
  const metrics = createMetrics({ events, gauges, listener, held: () => dispatcher.held() });
  const live = createLiveFeed({ events, gauges, listener, rates });
  const retention = createRetention({
    pool,
    logger,
    options: { retentionMs: config.OUTBOX_RETENTION },
  });

  async function readiness(): Promise<ReadinessCheck> {
    const checks: ReadinessCheck['checks'] = {};
    try {
      const { rows } = await pool.query<{ version: number | null }>(
        'select max(version) as version from schema_migrations',
      );
      const version = rows[0]?.version ?? 0;
      checks.database = { ok: true };
      checks.migrations =
        version >= expectedVersion
          ? { ok: true }
          : { ok: false, detail: `schema at ${version}, code expects ${expectedVersion}` };
    } catch (err) {
      checks.database = { ok: false, detail: errorMessage(err) };
    }
    checks.listener = listener.connected ? { ok: true } : { ok: false, detail: 'not connected' };
    const ready = Object.values(checks).every((c) => c.ok);
    // A sink that cannot work degrades, it does not fail: the API and the other sinks work, and
    // its events wait in its subscription.
    const sinkProblems = sinkHealth.problems();
    if (sinks.length > 0) {
      checks.sinks =
        sinkProblems.length === 0
          ? { ok: true }
          : {
              ok: false,
              detail: sinkProblems.map((p) => `${p.sink}: ${p.problem}`).join('; '),
              publicDetail: `cannot work as configured: ${sinkProblems
                .map((p) => publicSinkName(p.sink))
                .join(', ')} (the log and GET /admin/stats say why)`,
            };
    }
    // Lag over its SLO degrades, it does not fail: taking instances out of rotation would not
    // drain the backlog any faster.
    let degraded = false;
    if (config.OUTBOX_LAG_SLO_MS !== undefined) {
      const lagMs = ((await gauges.read())?.lagSeconds ?? 0) * 1000;
      degraded = lagMs > config.OUTBOX_LAG_SLO_MS;
      checks.lag = degraded
        ? {
            ok: false,
            detail: `a subscription's oldest owed event is ${Math.round(lagMs)} ms old (SLO ${config.OUTBOX_LAG_SLO_MS} ms)`,
          }
        : { ok: true };
    }
    return { ready, degraded: degraded || sinkProblems.length > 0, checks };
  }

  const app = buildApp({
    logger,
    orders: createOrdersService({ pool }),
    readiness,
    metrics,
    live,
    admin: config.ADMIN_TOKEN
      ? {
          service: createAdminService({ pool }),
          subscriptions: createSubscriptionsService({
            pool,
            rates,
            held: () => dispatcher.held(),
          }),
          token: config.ADMIN_TOKEN,
        }
      : undefined,
    http: httpOptions(config),
  });
  await sinkHealth.checkAll(sinks);
  await dispatcher.start();
  retention.start();
  await listener.start();

  const server = createHttpServer(app, logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.PORT, config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://localhost:${port}`;

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    const log = logger.child({ component: 'shutdown' });
    log.info('stopping: retention');
    await retention.stop();
    log.info('stopping: HTTP server');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Requests still running get until the deadline, counted from now (the dispatcher's drain
    // runs meanwhile); then their sockets are cut.
    const forced = setTimeout(() => server.closeAllConnections(), config.OUTBOX_SHUTDOWN_MS);
    // Live pages hold a response open for ever: end them, or close() would wait for the deadline.
    live.close();
    log.info('stopping: listener');
    await listener.stop();
    log.info('stopping: dispatcher');
    await dispatcher.stop(config.OUTBOX_SHUTDOWN_MS);
    // After the drain: deliveries in hand still needed their connections.
    log.info('stopping: sinks');
    await closeSinks(sinks, log);
    await closed;
    clearTimeout(forced);
    metrics.close();
    rates.close();
    sinkHealth.close();
    await Promise.all([pool.end(), dispatchPool.end()]);
    log.info('stopped');
  }

  return {
    pool,
    server,
    url,
    dispatcher,
    listener,
    events,
    metrics,
    retention,
    stop: () => (stopping ??= stop()),
  };
}
