import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/** The article's query, byte for byte as its readers type it (and as the READMEs show it). */
const ARTICLE_QUERY = `select
o.id,
o.status,
o.client_id,
i.name,
i.description,
i.price
from
orders o
join order_items oi on o.id = oi.order_id
join items i on i.id = oi.item_id
where
o.client_id = 2;`;

describe("the article's seed query", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.seed();
  });
  afterAll(() => db.drop());

  test("returns client 2's orders with each item's name, description and price", async () => {
    const result = await db.pool.query(ARTICLE_QUERY);
    expect(result.fields.map((f) => f.name)).toEqual([
      'id',
      'status',
      'client_id',
      'name',
      'description',
      'price',
    ]);
    const rows = result.rows.map((r) => [r.id, r.status, r.name, r.price]).sort();
    expect(rows).toEqual(
      [
        [12, 'paid', 'Desk lamp', '45.00'],
        [12, 'paid', 'Webcam', '79.00'],
        [2, 'shipped', '27" monitor', '329.00'],
        [2, 'shipped', 'USB-C cable, 2 m', '15.00'],
        [3, 'pending', 'USB-C hub', '49.00'],
        [4, 'delivered', 'Headset', '89.00'],
        [4, 'delivered', 'Laptop stand', '59.00'],
        [4, 'delivered', 'Notebook, A5', '9.00'],
      ].sort(),
    );
    for (const row of result.rows) {
      expect(row.client_id).toBe(2);
      expect(row.description).toMatch(/\w{3}/);
      // numeric(10,2): node-postgres hands a decimal over as its exact text.
      expect(row.price).toMatch(/^\d+\.\d\d$/);
    }
  });

  test.each(['README.md', 'db/seed/README.md'])('%s shows it as written', async (file) => {
    const text = await readFile(path.resolve(__dirname, '../..', file), 'utf8');
    expect(text).toContain('```sql\n' + ARTICLE_QUERY + '\n```');
  });
});
