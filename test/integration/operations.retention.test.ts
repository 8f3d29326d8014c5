import pg from 'pg';
import { tryWithAdvisoryLock } from '../../src/db/advisory-lock';
import { createLogger } from '../../src/observability/logger';
import { createRetention, RETENTION_LOCK_KEY } from '../../src/outbox/retention';
import { deleteRetainedStep } from '../../src/outbox/sql/retention';
import { declareSubscriptions } from '../../src/outbox/sql/subscriptions';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { readsDuring, type Reads } from '../helpers/rows-read';
import { startTestService } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Retention deletes the events written longer ago than OUTBOX_RETENTION that every subscription
// has passed (their writer's xid is older than every position's snapshot xmin) and none has
// parked, in bounded steps. Rows read are counted from the backend's own statistics, not timed.

const DAY = 86_400_000;
const RETENTION_MS = 7 * DAY;
let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(() => db.drop());

/** `count` events written `ageDays` ago, in one transaction (one writer xid); their ids. */
async function events(count: number, ageDays: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload, created_at)
     select 'thing', n::text, 'test.event', '{}', now() - $2 * interval '1 day'
       from generate_series(1, $1::int) n
     returning id`,
    [count, ageDays],
  );
  return rows.map((r) => r.id);
}

async function newestXid(): Promise<string> {
  const { rows } = await db.pool.query(`select xid::text from outbox order by xid desc limit 1`);
  return rows[0].xid;
}

/**
 * Moves the positions of `names` (every subscription when omitted) past every event written so
 * far, as if they had read them all. A position is a snapshot: its xmin is past an event only when
 * no transaction that began before the event's commit was running when it was taken, and other
 * test files' transactions share the server, so it is taken again until it is.
 */
async function readPastEverything(names?: string[]): Promise<void> {
  const newest = await newestXid();
  await waitFor('the positions past every event', async () => {
    const { rows } = await db.pool.query(
      `update outbox_subscriptions
          set snapshot = pg_current_snapshot(), batch_snapshot = null, batch_cursor = 0,
              batch_low = null, batch_high = null
        where $1::text[] is null or name = any ($1::text[])
       returning pg_snapshot_xmin(snapshot) > $2::xid8 as past`,
      [names ?? null, newest],
    );
    return rows.length > 0 && rows.every((r) => r.past);
  });
}

/** Parks events in notify-client, as a failed delivery does (retrying or dead). */
async function park(ids: string[], state: 'retrying' | 'dead'): Promise<void> {
  await db.pool.query(
    `insert into outbox_parked (subscription, event_id, aggregate_type, aggregate_id, state,
                                attempts, available_at)
     select 'notify-client', o.id, o.aggregate_type, o.aggregate_id, $2, 1,
            now() + interval '1 hour'
       from outbox o where o.id = any ($1::bigint[])`,
    [ids, state],
  );
}

async function remainingIds(): Promise<string[]> {
  const { rows } = await db.pool.query('select id from outbox order by id');
  return rows.map((r) => r.id);
}

function retention(batchSize = 2, maxBatches = 100) {
  return createRetention({
    pool: db.pool,
    logger: createLogger({ level: 'silent' }),
    options: { retentionMs: RETENTION_MS, batchSize, maxBatches },
  });
}

interface StepCost {
  deleted: number;
  /** Entries of the (xid, id) index read: the events the step examined. */
  examined: number;
  /** Rows of the log read by sequential scans. */
  logScanned: number;
  /** Rows of the log fetched through an index (the examined ones, and the deleted again). */
  logFetched: number;
  /** Rows of outbox_parked read, by any means. */
  parkedRead: number;
}

function costOf(deleted: number, r: Reads): StepCost {
  return {
    deleted,
    examined: r.indexes.outbox_xid ?? 0,
    logScanned: r.tables.outbox?.seq ?? 0,
    logFetched: r.tables.outbox?.fetched ?? 0,
    parkedRead: (r.tables.outbox_parked?.seq ?? 0) + (r.tables.outbox_parked?.fetched ?? 0),
  };
}

/**
 * Runs retention's steps as a run does (each step after the last event the previous one
 * examined, until one says done), one transaction each, and returns what each step read.
 */
async function stepCosts(limit: number): Promise<StepCost[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const costs: StepCost[] = [];
    let after: { xid: string; id: string } | null = null;
    for (let i = 0; i < 1_000; i++) {
      const { value: step, reads } = await readsDuring(
        client,
        { tables: ['outbox', 'outbox_parked'], indexes: ['outbox_xid'] },
        () => deleteRetainedStep(client, { olderThanMs: RETENTION_MS, limit, after }),
      );
      costs.push(costOf(step.deleted, reads));
      after = step.after;
      if (step.done) return costs;
    }
    throw new Error('retention never said done');
  } finally {
    await client.end();
  }
}

/**
 * A step's cost is bounded by its size, whatever the size of the log or of the parked events: it
 * examines at most `limit` events of the log (index entries, never a sequential scan), fetches
 * each once and once more by its id to delete it, and finds at most one parked row per examined
 * event (one subscription parks them here).
 */
function withinStep(cost: StepCost, limit: number): boolean {
  return (
    cost.examined <= limit &&
    cost.logScanned === 0 &&
    cost.logFetched <= 2 * limit &&
    cost.parkedRead <= limit
  );
}

describe('retention', () => {
  test('deletes old events that every subscription passed and none parked, in steps, and nothing else', async () => {
    // In the order a log is written, oldest first: five to delete, two parked, two recent.
    await events(1, 30);
    const [retrying] = await events(1, 30);
    const [dead] = await events(1, 20);
    await events(2, 10);
    await events(1, 9);
    await events(1, 8);
    const recent = await events(2, 6);
    await park([retrying!], 'retrying');
    await park([dead!], 'dead');
    await readPastEverything();

    // Steps of 2: four statements, the last of which meets the first recent event and ends the run.
    expect(await retention(2).runOnce()).toEqual({ ran: true, deleted: 5 });
    expect(await remainingIds()).toEqual([retrying, dead, ...recent]);
    expect(await retention(2).runOnce()).toEqual({ ran: true, deleted: 0 });
  });

  test('a parked event is deleted once it is resolved, not before', async () => {
    const [parked] = await events(1, 30);
    await park([parked!], 'dead');
    await readPastEverything();
    expect(await retention().runOnce()).toEqual({ ran: true, deleted: 0 });
    // An operator resolves it (or its retry succeeds): the parked row goes.
    await db.pool.query(`delete from outbox_parked where event_id = $1`, [parked]);
    expect(await retention().runOnce()).toEqual({ ran: true, deleted: 1 });
    expect(await remainingIds()).toEqual([]);
  });

  test('a subscription nobody serves holds retention back, by design, until it has read past', async () => {
    // A webhook a former deployment had: still in the database, served by no instance now.
    await declareSubscriptions(
      db.pool,
      [{ name: 'webhook:gone', kind: 'external', eventTypes: '*' }],
      'now',
    );
    const old = await events(3, 30);
    const newest = await newestXid();
    // The service serves notify-client only: it reads past the old events...
    const service = await startTestService(db.url);
    await waitFor('notify-client past the old events', async () => {
      const { rows } = await db.pool.query(
        `select pg_snapshot_xmin(snapshot) > $1::xid8 as past
           from outbox_subscriptions where name = 'notify-client'`,
        [newest],
      );
      if (rows[0].past) return true;
      // A position moves only when there is something new to read (see readPastEverything).
      await events(1, 0);
      return false;
    });
    await service.stop();
    // ...but webhook:gone still owes them: nothing goes.
    expect(await retention().runOnce()).toEqual({ ran: true, deleted: 0 });
    expect(await remainingIds()).toEqual(expect.arrayContaining(old));

    await readPastEverything(['webhook:gone']);
    const { deleted } = await retention(100).runOnce();
    expect(deleted).toBe(3);
    expect((await remainingIds()).filter((id) => old.includes(id))).toEqual([]);
  });

  test('many parked events in front are stepped over within one run', async () => {
    const parked = await events(2_000, 30);
    await events(500, 20);
    const recent = await events(200, 1);
    await park(parked, 'dead');
    await readPastEverything();
    await db.pool.query('analyze');

    // 2,000 parked, 500 deleted, then the first recent step: 26 steps of 100, within the 100 of
    // one run. A run that started every step again from the front would delete nothing.
    expect(await retention(100, 100).runOnce()).toEqual({ ran: true, deleted: 500 });
    expect(await remainingIds()).toEqual([...parked, ...recent]);
  });

  test('each step reads at most its size of the log and of the parked events, parked events in front or not', async () => {
    const parked = await events(2_000, 30);
    await events(500, 20);
    await events(200, 1);
    await park(parked, 'dead');
    await readPastEverything();
    await db.pool.query('analyze');

    const costs = await stepCosts(100);
    expect(costs.reduce((n, c) => n + c.deleted, 0)).toBe(500);
    expect(costs.filter((c) => !withinStep(c, 100))).toEqual([]);
  });

  test('a step reads at most its size when a subscription far behind holds everything back', async () => {
    // notify-client stays where the migration put it: every event is after its position.
    await events(2_000, 30);
    await db.pool.query('analyze');
    const costs = await stepCosts(100);
    expect(costs).toHaveLength(1);
    expect(costs.filter((c) => !withinStep(c, 100))).toEqual([]);
  });

  test('runs on one instance at a time: while another holds the lock it does nothing', async () => {
    await events(1, 30);
    await readPastEverything();
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
