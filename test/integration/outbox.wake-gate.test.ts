import pg from 'pg';
import type { ExternalHandler } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { deliveryOf } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const db = useSeededDatabase();

/**
 * Runs `write`, then sends a marker notification on the same channel, and returns the payloads
 * received before the marker. Notifications arrive in commit order, so "no '' before the marker"
 * proves the write did not notify, without waiting a fixed time.
 */
async function notificationsOf(write: () => Promise<unknown>): Promise<string[]> {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const received: string[] = [];
  listener.on('notification', (n) => received.push(n.payload ?? ''));
  try {
    await listener.query('listen outbox');
    await write();
    await db.pool.query(`select pg_notify('outbox', 'marker')`);
    await waitFor('the marker notification', () => received.includes('marker'));
    return received.slice(0, received.indexOf('marker'));
  } finally {
    await listener.end();
  }
}

/** Changes the status of an order, whatever it was: one captured event. */
const ship = (id: number) =>
  db.pool.query(
    `update orders set status = case status when 'shipped' then 'delivered' else 'shipped' end
      where id = $1`,
    [id],
  );

/** The state of the order's latest event in `subscription` (undefined: no event). */
async function latestEventState(orderId: number, subscription = 'notify-client') {
  const { rows } = await db.pool.query<{ id: string }>(
    `select id from outbox where aggregate_type = 'order' and aggregate_id = $1
      order by id desc limit 1`,
    [String(orderId)],
  );
  if (!rows[0]) return undefined;
  return (await deliveryOf(db.pool, rows[0].id, subscription))?.state;
}

describe('the wake-up gate in the capture trigger', () => {
  test('with no dispatcher registered, every capturing commit notifies (as before)', async () => {
    expect(await notificationsOf(() => ship(1))).toEqual(['']);
  });

  test('while a dispatcher is awake, writers do not notify; the row is still captured', async () => {
    await db.pool.query(
      `insert into outbox_dispatchers (worker_id, awake_until) values ('awake', now() + interval '1 hour')`,
    );
    expect(await notificationsOf(() => ship(1))).toEqual([]);
    expect(await latestEventState(1)).toBe('pending');
  });

  test('an idle dispatcher, or one whose awake flag expired, makes writers notify', async () => {
    await db.pool.query(
      `insert into outbox_dispatchers (worker_id, awake_until)
       values ('idle', null), ('dead', now() - interval '1 second')`,
    );
    expect(await notificationsOf(() => ship(1))).toEqual(['']);
  });
});

describe('the dispatcher behind the gate', () => {
  test('goes idle when out of work, and a writer then wakes it with NOTIFY (not the poll)', async () => {
    // The poll is a minute away: only the notification can get the event handled in time.
    const service = await startTestService(db.url, { env: { OUTBOX_POLL_INTERVAL_MS: '60000' } });
    let notifications = 0;
    service.events.on('listener:notification', () => notifications++);
    await waitFor('the dispatcher to register as idle', async () => {
      const { rows } = await db.pool.query(
        `select awake_until from outbox_dispatchers where worker_id = $1`,
        [service.dispatcher.workerId],
      );
      return rows.length === 1 && rows[0].awake_until === null;
    });
    await ship(3);
    await waitFor('the event to be done', async () => (await latestEventState(3)) === 'done');
    expect(notifications).toBeGreaterThan(0);
  });

  test('with every notification suppressed, events are still handled by the fallback poll', async () => {
    // A phantom dispatcher that claims to be awake forever: no writer ever rings.
    await db.pool.query(
      `insert into outbox_dispatchers (worker_id, awake_until) values ('phantom', 'infinity')`,
    );
    const service = await startTestService(db.url, { env: { OUTBOX_POLL_INTERVAL_MS: '200' } });
    let notifications = 0;
    service.events.on('listener:notification', () => notifications++);
    for (const id of [4, 5, 6]) await ship(id);
    for (const id of [4, 5, 6]) {
      await waitFor(
        `order ${id}'s event to be done`,
        async () => (await latestEventState(id)) === 'done',
      );
    }
    expect(notifications).toBe(0);
  });

  test('while a lane is busy and writers are silent, another lane reads new events (the watcher), not the poll', async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let holdingSeven = false;
    // Holds order 7's event for as long as the test wants: its lane stays busy, the flag awake.
    const holding: ExternalHandler<'order.status_changed'> = {
      kind: 'external',
      name: 'holding',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        if (event.aggregateId !== '7') return;
        holdingSeven = true;
        await released;
      },
    };
    // The poll is a minute away: only a lane that keeps claiming can get order 8's event handled.
    const service = await startTestService(db.url, {
      handlers: [notifyClientHandler, holding],
      env: { OUTBOX_POLL_INTERVAL_MS: '60000', OUTBOX_CONCURRENCY: '2' },
    });
    try {
      await ship(7);
      await waitFor("order 7's event in hand", () => holdingSeven);
      await waitFor('the dispatcher flagged awake', async () => {
        const { rowCount } = await db.pool.query(
          `select 1 from outbox_dispatchers where worker_id = $1 and awake_until > now()`,
          [service.dispatcher.workerId],
        );
        return rowCount === 1;
      });
      let notifications = 0;
      service.events.on('listener:notification', () => notifications++);
      await ship(8);
      await waitFor(
        "order 8's event done in notify-client",
        async () => (await latestEventState(8)) === 'done',
      );
      // Handled with no wake-up call, while the other lane was still busy with order 7.
      expect(notifications).toBe(0);
      expect(await latestEventState(7, 'holding')).toBe('pending');
    } finally {
      release();
    }
  });

  test('stop() removes its flag, so writers notify again', async () => {
    const service = await startTestService(db.url);
    await waitFor('the dispatcher to register', async () => {
      const { rowCount } = await db.pool.query(
        `select 1 from outbox_dispatchers where worker_id = $1`,
        [service.dispatcher.workerId],
      );
      return rowCount === 1;
    });
    await service.stop();
    const { rowCount } = await db.pool.query(`select 1 from outbox_dispatchers`);
    expect(rowCount).toBe(0);
    expect(await notificationsOf(() => ship(2))).toEqual(['']);
  });
});
