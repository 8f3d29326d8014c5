import { createDispatcher, type Dispatcher } from '../../src/outbox/dispatcher';
import { createOutboxEvents } from '../../src/outbox/events';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createListener, type Listener } from '../../src/outbox/listener';
import { createRegistry } from '../../src/outbox/registry';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';

// Point 1 of issue 3: a LISTEN connection that dies without an error (a NAT drops the flow) is
// noticed by the self-NOTIFY heartbeat and replaced, and the reconnect drains what was missed.

let db: TestDatabase;
let proxy: TcpProxy;
let dispatcher: Dispatcher | undefined;
let listener: Listener | undefined;

beforeEach(async () => {
  db = await createTestDatabase();
  await db.seed();
  proxy = await startTcpProxy(db.url);
});
afterEach(async () => {
  await listener?.stop();
  await dispatcher?.stop(2_000);
  await proxy.close();
  await db.drop();
});

async function notified(orderId: number): Promise<boolean> {
  const { rowCount } = await db.pool.query('select 1 from notifications where order_id = $1', [
    orderId,
  ]);
  return (rowCount ?? 0) > 0;
}

test('when the LISTEN connection goes silently dead, the heartbeat replaces it and the missed event is handled', async () => {
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const events = createOutboxEvents(logger);
  dispatcher = createDispatcher({
    pool: db.pool,
    registry: createRegistry([notifyClientHandler]),
    logger,
    events,
    options: {
      batchSize: 10,
      maxAttempts: 5,
      leaseMs: 5_000,
      // Far beyond the test's waits: only a wake-up from the listener can get the event handled.
      pollIntervalMs: 600_000,
      backoff: { baseMs: 50, maxMs: 1_000 },
      subscriptionStart: 'now',
    },
  });
  const d = dispatcher;
  listener = createListener({
    connectionString: proxy.url, // only the LISTEN connection goes through the proxy
    logger,
    events,
    onWake: () => d.nudge(),
    pool: db.pool,
    heartbeat: { intervalMs: 200, timeoutMs: 1_000 },
  });
  await dispatcher.start();
  await listener.start();

  await db.pool.query(`update orders set status = 'shipped' where id = 1`);
  await waitFor('order 1 handled through a NOTIFY', () => notified(1));
  // Let the dispatcher finish its round (an empty read, then sleep until the far-off poll): an
  // update before that read would be picked up by it, with no wake-up needed (seen once under a
  // loaded full run).
  await new Promise((resolve) => setTimeout(resolve, 500));

  proxy.freeze();
  await db.pool.query(`update orders set status = 'cancelled' where id = 3`);
  await waitFor('order 3 handled after the listener was replaced', () => notified(3), {
    timeoutMs: 15_000,
  });
  expect(listener.heartbeatsMissed).toBeGreaterThanOrEqual(1);
  expect(listener.connected).toBe(true);
});
