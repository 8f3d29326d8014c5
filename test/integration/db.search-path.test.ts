import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
});
afterAll(() => db.drop());

/** What migration 0060 pins; pg_temp last, or it is searched first for tables. */
const PINNED = 'search_path=pg_catalog, public, pg_temp';

/**
 * Functions of schema public whose names a caller's search_path could redirect: neither a pinned
 * search_path nor an SQL-standard body (bound when created). Extension members are not ours.
 */
async function unpinnedFunctions(client: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const { rows } = await client.query<{ f: string; config: string[] | null }>(
    `select p.oid::regprocedure::text as f, p.proconfig as config
       from pg_proc p
      where p.pronamespace = 'public'::regnamespace
        and p.prokind in ('f', 'p', 'w')
        and p.prosqlbody is null
        and not exists (select 1 from pg_depend d
                         where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                           and d.deptype = 'e')
      order by 1`,
  );
  return rows
    .filter((r) => !(r.config ?? []).includes(PINNED))
    .map((r) => `${r.f} ${JSON.stringify(r.config ?? [])}`);
}

describe('search_path of the schema functions', () => {
  test(`every function of schema public pins "${PINNED}" or has an SQL-standard body`, async () => {
    // A function listed here: add `set search_path = pg_catalog, public, pg_temp` to it, or,
    // for an SQL function called per row, write its body as BEGIN ATOMIC (migration 0060 says why).
    expect(await unpinnedFunctions(db.pool)).toEqual([]);
  });

  test('a function added without one is named by the check above', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `create function late_addition() returns int language plpgsql as $$ begin return 1; end $$`,
      );
      expect(await unpinnedFunctions(client)).toEqual(['late_addition() []']);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  test("the capture and its readers work with an empty search_path, and ignore a session's temp tables", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const before = await db.pool.query<{ n: string }>('select max(id) as n from outbox');
      // A writer whose session shadows the outbox: without the pinned path and qualified names,
      // the trigger's insert would land in this temp table and the event would be lost.
      await client.query('create temp table outbox (like public.outbox including defaults)');
      await client.query('create temp table outbox_dispatchers (like public.outbox_dispatchers)');
      await client.query(`set search_path = ''`);
      await client.query(`update public.orders set status = 'cancelled' where id = 3`);
      const { rows } = await db.pool.query(
        `select event_type, payload #>> '{new,status}' as status from outbox where id > $1`,
        [before.rows[0]!.n],
      );
      expect(rows).toEqual([{ event_type: 'order.status_changed', status: 'cancelled' }]);
      const temp = await client.query('select count(*)::int as n from pg_temp.outbox');
      expect(temp.rows[0].n).toBe(0);

      // The dispatcher's functions, called the same way: the temp outbox is not what they read.
      const read = await client.query(
        `select id from public.outbox_batch_events('1:1:', pg_catalog.pg_current_snapshot(), 0,
                                                   0, 9223372036854775807, 100)`,
      );
      expect(read.rowCount).toBeGreaterThan(0);
      const message = await client.query(
        `select (public.order_status_message(payload)).subject from public.outbox
          where event_type = 'order.status_changed' order by id desc limit 1`,
      );
      expect(message.rows[0].subject).toBe('Your order #3 is now cancelled');
    } finally {
      await client.end();
    }
  });

  test('the capture trigger names every table it touches with its schema', async () => {
    const { rows } = await db.pool.query<{ src: string; tables: string[] }>(
      `select (select prosrc from pg_proc where oid = 'tg_outbox__capture'::regproc) as src,
              array(select relname::text from pg_class
                     where relnamespace = 'public'::regnamespace and relkind in ('r', 'p', 'v')) as tables`,
    );
    const { src, tables } = rows[0]!;
    const unqualified = tables.filter((t) =>
      new RegExp(`\\b(from|into|join|update)\\s+${t}\\b`, 'i').test(src),
    );
    expect(unqualified).toEqual([]);
    expect(src).toContain('public.outbox ');
  });

  test('the SQL functions of the batch statement are still inlined (no SET on them)', async () => {
    // A SET on an SQL function stops PostgreSQL from inlining it: html_escape would become a
    // function call, with a setting switch, four times per notification.
    const { rows } = await db.pool.query<{ 'QUERY PLAN': string }>(
      `explain (verbose, costs off) select html_escape(event_type) from outbox`,
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('replace(replace(');
    expect(plan).not.toContain('html_escape(');
  });
});
