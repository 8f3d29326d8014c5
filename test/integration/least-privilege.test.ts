import pg from 'pg';
import request from 'supertest';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createAppRole, type AppRole } from '../helpers/app-role';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const ADMIN = 'least-privilege-admin-token';
let db: TestDatabase;
let role: AppRole;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  role = await createAppRole(db);
});
afterEach(() => stopAllServices());
afterAll(async () => {
  await db.drop();
  await role.drop();
});

async function asAppRole<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: role.url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('the application role (db/roles/)', () => {
  test.each([
    ['drop the capture trigger', 'drop trigger _500_orders_capture_status_changed on orders'],
    [
      'disable the capture trigger',
      'alter table orders disable trigger _500_orders_capture_status_changed',
    ],
    ['disable every trigger', 'alter table orders disable trigger all'],
    ['skip triggers for its session', 'set session_replication_role = replica'],
    ['drop the trigger function', 'drop function tg_outbox__capture() cascade'],
    [
      'replace the trigger function',
      `create or replace function tg_outbox__capture() returns trigger
       language plpgsql as $$ begin return null; end $$`,
    ],
    [
      'add a trigger of its own',
      `create trigger _000_sneaky before update on orders
       for each row execute function tg__touch_updated_at()`,
    ],
    ['drop the outbox', 'drop table outbox'],
    ['alter the outbox', 'alter table outbox add column note text'],
    ['empty the outbox at once', 'truncate outbox'],
    // The log is append-only: not even the service may rewrite an event it has read.
    ['rewrite an event', `update outbox set payload = '{}'`],
    ['move an event to another transaction', `update outbox set xid = '1'`],
    ['create a table', 'create table scratch (id int)'],
    ['rewrite the migration record', `delete from schema_migrations`],
  ])('may not %s', async (_what, sql) => {
    await expect(asAppRole((c) => c.query(sql))).rejects.toMatchObject({ code: '42501' });
  });

  test('the capture triggers are still there and enabled afterwards', async () => {
    const { rows } = await db.pool.query(
      `select tgname, tgenabled from pg_trigger
        where tgrelid = 'orders'::regclass and tgname like '\\_500\\_%' order by tgname`,
    );
    expect(rows).toEqual([
      { tgname: '_500_orders_capture_created', tgenabled: 'O' },
      { tgname: '_500_orders_capture_status_changed', tgenabled: 'O' },
    ]);
  });

  test('the service runs as the role end to end: capture, delivery, parking, admin retry and replay, retention', async () => {
    // An event older than the retention, written before the service starts: every subscription
    // passes it, so retention (running as the role) may delete it.
    const { rows: old } = await db.pool.query<{ id: string }>(
      `insert into outbox (aggregate_type, aggregate_id, event_type, payload, created_at)
       values ('test', '1', 'test.old', '{}', now() - interval '30 days') returning id`,
    );
    let refuse = true;
    // Refuses order 5 until told otherwise: its event is parked dead (written as the role).
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        if (refuse && event.aggregateId === '5') throw new PermanentError('not yet');
      },
    };
    const service = await startTestService(role.url, {
      env: { ADMIN_TOKEN: ADMIN },
      handlers: [notifyClientHandler, picky],
    });
    await waitFor('readiness', async () => (await request(service.url).get('/readyz')).ok);
    const adminCall = (method: 'get' | 'post', path: string) =>
      request(service.url)[method](`/admin${path}`).set('authorization', `Bearer ${ADMIN}`);

    const res = await request(service.url)
      .patch('/orders/update')
      .send({ id: 5, status: 'cancelled' });
    expect(res.status).toBe(200);

    const notification = await waitFor('the notification of order 5', async () => {
      const { rows } = await db.pool.query(
        `select n.event_id, n.subject, d.state from notifications n
           join outbox_delivery d on d.event_id = n.event_id and d.subscription = 'notify-client'
          where n.order_id = 5`,
      );
      return rows[0];
    });
    expect(notification).toMatchObject({
      subject: 'Your order #5 is now cancelled',
      state: 'done',
    });
    const id: string = notification.event_id;
    await waitFor(
      'the event dead in picky',
      async () => (await deliveryOf(db.pool, id, 'picky'))?.state === 'dead',
    );

    refuse = false;
    const retried = await adminCall('post', `/outbox/${id}/retry`);
    expect(retried.status).toBe(200);
    await waitFor(
      'the retried event done in picky',
      async () => (await deliveryOf(db.pool, id, 'picky'))?.state === 'done',
    );

    const replay = await adminCall('post', '/outbox/replay').send({ fromId: id, toId: id });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ replayed: 1 });
    await waitUntilDelivered(db.pool, ['notify-client', 'picky']);
    const { rows: copies } = await db.pool.query(
      `select count(*)::int as n from notifications where event_id = $1`,
      [replay.body.ids[0]],
    );
    expect(copies[0].n).toBe(1);

    await waitFor('retention to delete the old event', async () => {
      expect((await service.retention.runOnce()).ran).toBe(true);
      const { rowCount } = await db.pool.query('select 1 from outbox where id = $1', [old[0]!.id]);
      return rowCount === 0;
    });
  });

  test('on a database the owner has not migrated, the service refuses to start and says why', async () => {
    const bare = await createTestDatabase({ migrated: false });
    try {
      const url = new URL(role.url);
      url.pathname = `/${bare.name}`;
      await expect(startTestService(url.toString())).rejects.toThrow(
        /not applied and this database role may not apply them: start the service once with the schema owner's DATABASE_URL/,
      );
    } finally {
      await bare.drop();
    }
  });
});
