import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import type { AnySqlHandler } from '../../src/outbox/registry';
import { lockHandleSettle, oneStatementBatchSql } from '../../src/outbox/sql/one-statement';
import { useSeededDatabase } from '../helpers/service';

// The batch of the built-in set in one statement (src/outbox/sql/one-statement.ts): what it locks,
// what its effects write, and how it settles, against the same rules as the other paths.

const db = useSeededDatabase({ seedEvents: false });
const handlers = [notifyClientHandler];
const now = '2026-11-29T01:00:00.000Z';

function runBatch(limit: number, hs: AnySqlHandler[] = handlers) {
  return lockHandleSettle(db.pool, oneStatementBatchSql(hs), { limit, now });
}

async function outboxRows() {
  const { rows } = await db.pool.query(
    `select id, aggregate_id, event_type, status, attempts, deliveries, processed_at
       from outbox order by id`,
  );
  return rows;
}

test('locks the oldest open event of each order, writes each effect once, settles them done', async () => {
  await db.pool.query(`update orders set status = 'shipped' where id in (1, 3)`);
  await db.pool.query(`update orders set status = 'delivered' where id = 1`);
  const [first, second, later] = await outboxRows();

  const handled = await runBatch(100);
  // Order 1's second event waits for its first.
  expect(handled.map((r) => r.id)).toEqual([first.id, second.id]);
  expect(handled[0]).toMatchObject({ aggregate_id: '1', attempts: 1, previous_deliveries: {} });
  const rows = await outboxRows();
  for (const row of rows.slice(0, 2)) {
    expect(row).toMatchObject({ status: 'done', attempts: 1 });
    expect(row.deliveries).toEqual({ 'notify-client': { status: 'done', attempts: 1, at: now } });
    expect(row.processed_at).toBeInstanceOf(Date);
  }
  expect(rows[2]).toMatchObject({ id: later.id, status: 'pending', attempts: 0 });

  const { rows: notes } = await db.pool.query(
    `select event_id, client_id, order_id, subject, body from notifications order by event_id`,
  );
  expect(notes).toHaveLength(2);
  expect(notes[0]).toMatchObject({ event_id: first.id, order_id: 1, client_id: 1 });
  expect(notes[0].subject).toBe('Your order #1 is now shipped');
  expect(notes[0].body).toMatch(/^Hello,\n\nyour order #1 went from \w+ to shipped at \d{4}-/);

  expect((await runBatch(100)).map((r) => r.id)).toEqual([later.id]);
  expect(await runBatch(100)).toEqual([]);
});

test('a handler already done for an event (an earlier attempt) is not run again', async () => {
  await db.pool.query(`update orders set status = 'shipped' where id = 3`);
  await db.pool.query(
    `update outbox set attempts = 1,
            deliveries = '{"notify-client": {"status": "done", "attempts": 1, "at": "earlier"}}'`,
  );
  const [handled] = await runBatch(10);
  expect(handled?.attempts).toBe(2);
  const [row] = await outboxRows();
  expect(row).toMatchObject({ status: 'done', attempts: 2 });
  expect(row.deliveries['notify-client']).toEqual({ status: 'done', attempts: 1, at: 'earlier' });
  const { rows } = await db.pool.query('select * from notifications');
  expect(rows).toEqual([]);
});

test('an effect that fails fails the whole statement: nothing is written, nothing is settled', async () => {
  const refusing: AnySqlHandler = {
    kind: 'sql',
    name: 'refusing',
    eventTypes: '*',
    effectSql: `insert into notifications (event_id, client_id, order_id, subject, body)
                select e.id, 1, 1 / (e.aggregate_id::int - 4), 's', 'b' from events e`,
  };
  await db.pool.query(`update orders set status = 'shipped' where id in (4, 5)`);
  await expect(runBatch(10, [notifyClientHandler, refusing])).rejects.toThrow(/division by zero/);
  const rows = await outboxRows();
  expect(rows.map((r) => [r.status, r.attempts])).toEqual([
    ['pending', 0],
    ['pending', 0],
  ]);
  const { rows: notes } = await db.pool.query('select * from notifications');
  expect(notes).toEqual([]);
});
