import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Config } from './config/env';
import { createPool } from './db/pool';
import { latestMigrationVersion, migrate, seed } from './db/migrate';
import { errorMessage } from './db/errors';
import { buildApp } from './http/app';
import type { ReadinessCheck } from './http/routes/health';
import type { Logger } from './observability/logger';
import { createOrdersService } from './orders/orders.service';
import { createDispatcher, type Dispatcher } from './outbox/dispatcher';
import { createOutboxEvents, type OutboxEvents } from './outbox/events';
import { notifyClientHandler } from './outbox/handlers/notify-client';
import { createListener, type HeartbeatOptions, type Listener } from './outbox/listener';
import { createRegistry, type AnyHandler } from './outbox/registry';

export interface ServiceOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  /** Apply db/seed after migrating (the embedded development database). */
  seed?: boolean;
  /** Handlers to run; the built-in set when omitted (tests inject their own). */
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
  /** Stops in order: HTTP, listener, dispatcher (draining within the deadline), pool. */
  stop(): Promise<void>;
}

export function builtInHandlers(): AnyHandler[] {
  return [notifyClientHandler];
}

/** The composition root: config -> pool -> migrations -> app + listener + dispatcher. */
export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config, logger } = opts;
  const pool = createPool({ connectionString: opts.databaseUrl, max: config.PG_POOL_MAX, logger });
  try {
    await migrate(pool, logger.child({ component: 'migrate' }));
    if (opts.seed) await seed(pool, logger.child({ component: 'seed' }));
  } catch (err) {
    await pool.end();
    throw err;
  }
  const expectedVersion = await latestMigrationVersion();

  const events = createOutboxEvents(logger);
  const registry = createRegistry(opts.handlers ?? builtInHandlers());
  const dispatcher = createDispatcher({
    pool,
    registry,
    logger,
    events,
    options: {
      batchSize: config.OUTBOX_BATCH_SIZE,
      concurrency: config.OUTBOX_CONCURRENCY,
      maxAttempts: config.OUTBOX_MAX_ATTEMPTS,
      leaseMs: config.OUTBOX_LEASE_MS,
      pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
      backoff: { baseMs: config.OUTBOX_RETRY_BASE_MS, maxMs: config.OUTBOX_RETRY_MAX_MS },
    },
  });
  const listener = createListener({
    connectionString: opts.databaseUrl,
    logger,
    events,
    onWake: () => dispatcher.nudge(),
    pool,
    heartbeat: opts.heartbeat,
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
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  const app = buildApp({ logger, orders: createOrdersService({ pool }), readiness });
  dispatcher.start();
  await listener.start();

  const server = http.createServer(app);
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
    log.info('stopping: HTTP server');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    log.info('stopping: listener');
    await listener.stop();
    log.info('stopping: dispatcher');
    await dispatcher.stop(config.OUTBOX_SHUTDOWN_MS);
    // Requests still running get until the same deadline; then their sockets are cut.
    const forced = setTimeout(() => server.closeAllConnections(), config.OUTBOX_SHUTDOWN_MS);
    await closed;
    clearTimeout(forced);
    await pool.end();
    log.info('stopped');
  }

  return {
    pool,
    server,
    url,
    dispatcher,
    listener,
    events,
    stop: () => (stopping ??= stop()),
  };
}
