import pg from 'pg';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { addOrders, cycleStatuses, statusChangeIds } from '../helpers/orders-load';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// The listener's connection is terminated again and again while updates flow.

const db = useSeededDatabase();

/** Lets new connections into the test database, or refuses them (those open stay open). */
async function allowConnections(allow: boolean): Promise<void> {
  // Only from another database: PostgreSQL refuses to lock out the one it is connected to.
  const admin = new pg.Client({ connectionString: process.env.TEST_SERVER_URL });
  await admin.connect();
  try {
    await admin.query(`alter database ${db.name} allow_connections ${allow}`);
  } finally {
    await admin.end();
  }
}

/** Terminates the service's LISTEN connection and waits until its backend is gone. */
async function terminateListener(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `select count(*) filter (where pg_terminate_backend(pid, 5000)) as n
       from pg_stat_activity
      where application_name = 'outbox-listener' and datname = current_database()`,
  );
  return Number(rows[0]!.n);
}

test('with its LISTEN connection killed over and over during 2,000 updates, every event is handled once and the service catches up by itself', async () => {
  await auditNotificationInserts(db.pool);
  const orders = await addOrders(db.pool, 40);
  const log = createCallLog();
  const service = await startTestService(db.url, {
    // No fallback poll within the test: only NOTIFYs and the drains after reconnects wake it.
    env: { OUTBOX_POLL_INTERVAL_MS: '600000' },
    handlers: [notifyClientHandler, recordingHandler(log)],
  });

  let loading = true;
  let kills = 0;
  const killer = (async () => {
    while (loading) {
      kills += await terminateListener();
      await waitFor('the listener to reconnect', () => service.listener.connected || !loading);
      const seen = log.calls.length;
      // Let some events through between kills, so kills land at many points of the flow.
      await waitFor('events to flow', () => log.calls.length > seen + 50 || !loading);
    }
  })();
  const updates = await cycleStatuses(db.pool, orders, 50);
  loading = false;
  await killer;

  // Once the dispatcher has caught up and sleeps, a last kill, then changes committed while the
  // listener is away: their NOTIFY is lost, and only the drain after the reconnect finds them.
  await waitUntilDelivered(db.pool, ['notify-client', 'recorder'], 30_000);
  // New connections are refused meanwhile, so the reconnect cannot win the race with the commit.
  await allowConnections(false);
  try {
    kills += await terminateListener();
    await db.pool.query(
      `update orders set status = case status when 'pending' then 'paid' else 'pending' end
        where id = any($1::int[])`,
      [orders],
    );
  } finally {
    await allowConnections(true);
  }

  const events = await statusChangeIds(db.pool);
  expect(events).toHaveLength(updates + orders.length);
  await waitFor('every event to be handled', () => log.calls.length >= events.length, {
    timeoutMs: 30_000,
  });
  await waitUntilDelivered(db.pool, ['notify-client', 'recorder']);
  expect(kills).toBeGreaterThanOrEqual(5);
  expect(log.duplicates()).toEqual([]);
  expect(new Set(log.calls.map((c) => c.id))).toEqual(new Set(events));
  expect(await notificationInserts(db.pool)).toMatchObject({ total: events.length, twice: [] });
  expect(service.listener.connected).toBe(true);
});
