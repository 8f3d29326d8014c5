import { createTestDatabase, type TestDatabase } from './db';
import { parseConfig, type Config } from '../../src/config/env';
import { createLogger } from '../../src/observability/logger';
import { startService, type Service, type ServiceOptions } from '../../src/service';

export function testConfig(env: Record<string, string> = {}): Config {
  return parseConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    OUTBOX_POLL_INTERVAL_MS: '200',
    OUTBOX_RETRY_BASE_MS: '50',
    OUTBOX_SHUTDOWN_MS: '5000',
    ...env,
  });
}

const running = new Set<Service>();

/** The real service (HTTP server on a free port, listener, dispatcher) on a test database. */
export async function startTestService(
  databaseUrl: string,
  opts: { env?: Record<string, string> } & Partial<
    Omit<ServiceOptions, 'config' | 'databaseUrl'>
  > = {},
): Promise<Service> {
  const config = testConfig(opts.env);
  const service = await startService({
    config,
    databaseUrl,
    logger: opts.logger ?? createLogger({ level: config.LOG_LEVEL }),
    port: 0,
    handlers: opts.handlers,
  });
  running.add(service);
  const stop = service.stop;
  service.stop = async () => {
    running.delete(service);
    await stop();
  };
  return service;
}

/**
 * After each test: stops every service a test started, and fails if a dispatcher or listener is
 * still running afterwards (it would leak into the next test).
 */
export async function stopAllServices(): Promise<void> {
  const services = [...running];
  await Promise.all(services.map((s) => s.stop()));
  const alive = services.filter((s) => s.dispatcher.running || s.listener.connected);
  if (alive.length > 0)
    throw new Error(`${alive.length} dispatcher(s) or listener(s) still running after stop()`);
}

/**
 * Registers the hooks most service tests share: before each test a fresh, seeded database, after
 * each test every service stopped (checked) and the database dropped. Returns a view of the
 * current test's database. `seedEvents: false` deletes the events the seed itself captured
 * (its orders' order.created), for tests that count every event.
 */
export function useSeededDatabase(opts: { seedEvents?: boolean } = {}): TestDatabase {
  let current: TestDatabase | undefined;
  beforeEach(async () => {
    current = await createTestDatabase();
    await current.seed();
    if (opts.seedEvents === false) await current.pool.query('delete from outbox');
  });
  afterEach(async () => {
    await stopAllServices();
    await current?.drop();
    current = undefined;
  });
  const db = (): TestDatabase => {
    if (!current) throw new Error('useSeededDatabase: used outside a test');
    return current;
  };
  return {
    get url() {
      return db().url;
    },
    get name() {
      return db().name;
    },
    get pool() {
      return db().pool;
    },
    seed: () => db().seed(),
    drop: () => db().drop(),
  };
}
