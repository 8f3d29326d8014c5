import pg from 'pg';
import { tryWithAdvisoryLock } from '../../src/db/advisory-lock';
import { createLogger } from '../../src/observability/logger';
import { createRetention, RETENTION_LOCK_KEY } from '../../src/outbox/retention';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const DAY = 86_400_000;
let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(() => db.drop());

/** Inserts one outbox row in a given state, processed (or created) `ageDays` ago. */
async function row(status: string, ageDays: number): Promise<string> {
  const { rows } = await db.pool.query(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload, status, created_at, processed_at)
     values ('order', '1', 'order.status_changed', '{}', $1,
             now() - $2 * interval '1 day',
             case when $1 = 'done' then now() - $2 * interval '1 day' end)
     returning id`,
    [status, ageDays],
  );
  return rows[0].id;
}

async function remainingIds(): Promise<string[]> {
  const { rows } = await db.pool.query('select id from outbox order by id');
  return rows.map((r) => r.id);
}

function retention(batchSize = 2) {
  return createRetention({
    pool: db.pool,
    logger: createLogger({ level: 'silent' }),
    options: { retentionMs: 7 * DAY, batchSize },
  });
}

describe('retention', () => {
  test('deletes done rows older than the retention, in batches, and nothing else', async () => {
    const oldDone = [await row('done', 30), await row('done', 8), await row('done', 8)];
    const keep = [
      await row('done', 6), // done, but recent
      await row('dead', 30), // dead rows wait for an operator
      await row('pending', 30), // not handled yet
      await row('processing', 30),
    ];
    oldDone.push(await row('done', 10), await row('done', 9));

    // Batches of 2: five old rows take three statements in one run.
    expect(await retention(2).runOnce()).toEqual({ ran: true, deleted: 5 });
    expect(await remainingIds()).toEqual(keep);
    expect(await retention(2).runOnce()).toEqual({ ran: true, deleted: 0 });
  });

  test('runs on one instance at a time: while another holds the lock it does nothing', async () => {
    await row('done', 30);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [RETENTION_LOCK_KEY]);
      expect(await retention().runOnce()).toEqual({ ran: false, deleted: 0 });
      expect(await remainingIds()).toHaveLength(1);
      await other.query('select pg_advisory_unlock($1)', [RETENTION_LOCK_KEY]);
    } finally {
      await other.end();
    }
    expect(await retention().runOnce()).toEqual({ ran: true, deleted: 1 });
  });
});

describe('tryWithAdvisoryLock', () => {
  const KEY = 4242;
  async function lockIsFree(): Promise<boolean> {
    const { rows } = await db.pool.query(
      `select count(*)::int as n from pg_locks
        where locktype = 'advisory' and objid = $1
          and database = (select oid from pg_database where datname = current_database())`,
      [KEY],
    );
    return rows[0].n === 0;
  }

  test('releases the lock after fn, and after fn throws', async () => {
    const inside = await tryWithAdvisoryLock(db.pool, KEY, async () => lockIsFree());
    expect(inside).toEqual({ acquired: true, value: false });
    expect(await lockIsFree()).toBe(true);

    await expect(
      tryWithAdvisoryLock(db.pool, KEY, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await lockIsFree()).toBe(true);
  });

  test('a second taker is turned away while the first holds it', async () => {
    const result = await tryWithAdvisoryLock(db.pool, KEY, () =>
      tryWithAdvisoryLock(db.pool, KEY, async () => 'both'),
    );
    expect(result).toEqual({ acquired: true, value: { acquired: false } });
  });
});
