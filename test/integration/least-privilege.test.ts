import pg from 'pg';
import request from 'supertest';
import { createAppRole, type AppRole } from '../helpers/app-role';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

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

  test('the service runs as the role on a migrated database, and events flow', async () => {
    const service = await startTestService(role.url);
    await waitFor('readiness', async () => (await request(service.url).get('/readyz')).ok);

    const res = await request(service.url)
      .patch('/orders/update')
      .send({ id: 5, status: 'cancelled' });
    expect(res.status).toBe(200);

    const notification = await waitFor('the notification of order 5', async () => {
      const { rows } = await db.pool.query(
        `select n.subject, o.status from notifications n join outbox o on o.id = n.event_id
          where n.order_id = 5`,
      );
      return rows[0];
    });
    expect(notification).toEqual({
      subject: 'Your order #5 is now cancelled',
      status: 'done',
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
