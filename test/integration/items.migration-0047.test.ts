import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate';
import { createLogger } from '../../src/observability/logger';
import { eventPayloadSchemas } from '../../src/outbox/event-types';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const logger = createLogger({ level: 'silent' });

describe('migration 0047: items get a description, and price_cents becomes a decimal price', () => {
  let db: TestDatabase;
  let before0047: string;
  let updatedAtBefore: unknown[];
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    before0047 = await mkdtemp(path.join(os.tmpdir(), 'outbox-migrations-'));
    for (const name of await readdir(MIGRATIONS_DIR)) {
      if (name < '0047') await cp(path.join(MIGRATIONS_DIR, name), path.join(before0047, name));
    }
    await migrate(db.pool, logger, before0047);
    await db.pool.query(`
      insert into items (id, sku, name, price_cents) values (1, 'A', 'a', 12900), (2, 'B', 'b', 1),
        (3, 'C', 'c', 0)`);
    await db.pool.query(`update items set price_cents = 13000 where id = 1`); // an event of then
    updatedAtBefore = (await db.pool.query(`select updated_at from items order by id`)).rows;
    await migrate(db.pool, logger);
  });
  afterAll(async () => {
    await db.drop();
    await rm(before0047, { recursive: true, force: true });
  });

  test('keeps every price (price = price_cents / 100.0) and touches no row', async () => {
    const { rows } = await db.pool.query(
      `select id, price::text, description from items order by id`,
    );
    expect(rows).toEqual([
      { id: 1, price: '130.00', description: null },
      { id: 2, price: '0.01', description: null },
      { id: 3, price: '0.00', description: null },
    ]);
    // No UPDATE ran: the touch trigger would have moved updated_at.
    expect((await db.pool.query(`select updated_at from items order by id`)).rows).toEqual(
      updatedAtBefore,
    );
    const { rows: columns } = await db.pool.query(
      `select column_name from information_schema.columns where table_name = 'items'
          and column_name like 'price%' order by 1`,
    );
    expect(columns).toEqual([{ column_name: 'price' }]);
  });

  test('writes no event itself; the capture now follows price', async () => {
    const before = await db.pool.query(`select count(*)::int as n from outbox`);
    expect(before.rows[0].n).toBe(1); // the event of before the migration
    await db.pool.query(`update items set price = 0.02 where id = 2`);
    const { rows } = await db.pool.query(`select payload from outbox order by id`);
    expect(rows[1].payload).toMatchObject({ new: { price: 0.02 }, old: { price: 0.01 } });
  });

  test("the events captured before it still match item.price_changed's schema", async () => {
    const { rows } = await db.pool.query(`select payload from outbox order by id limit 1`);
    expect(rows[0].payload).toMatchObject({ old: { price_cents: 12900 } });
    expect(eventPayloadSchemas['item.price_changed'].safeParse(rows[0].payload).success).toBe(true);
  });

  test('the seed gives items seeded before it their description, and leaves their price', async () => {
    await db.seed();
    await db.seed(); // idempotent
    const { rows } = await db.pool.query(
      `select id, price::text, description is not null as described from items where id <= 3
        order by id`,
    );
    expect(rows).toEqual([
      { id: 1, price: '130.00', described: true },
      { id: 2, price: '0.02', described: true },
      { id: 3, price: '0.00', described: true },
    ]);
  });

  test('a negative price is refused, as a negative price_cents was', async () => {
    await expect(db.pool.query(`update items set price = -0.01 where id = 3`)).rejects.toThrow(
      /items_price_check/,
    );
  });
});
