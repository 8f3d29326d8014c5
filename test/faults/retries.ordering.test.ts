import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Issue 3, 8d: retries with backoff, dead after the maximum, and the order of one order's events
// kept through both.

const db = useSeededDatabase();

/** Updates order `id` through `statuses`, one transaction each; returns the new event ids. */
async function changes(id: number, statuses: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const status of statuses) {
    const { rows } = await db.pool.query(
      `with u as (update orders set status = $2 where id = $1 returning id)
       select 1 from u`,
      [id, status],
    );
    expect(rows).toHaveLength(1);
    const last = await db.pool.query(
      `select max(id) as id from outbox where aggregate_id = $1::text`,
      [id],
    );
    ids.push(last.rows[0].id);
  }
  return ids;
}

async function row(id: string) {
  return (await db.pool.query('select * from outbox where id = $1', [id])).rows[0];
}

const BASE_MS = 300;

test('a handler failing twice succeeds on the third attempt after growing backoffs; the order waits, other orders do not', async () => {
  const log = createCallLog();
  const seen = new Map<number, { now: Date; available_at: Date; last_error: string | null }>();
  let first = '';
  await startTestService(db.url, {
    env: { OUTBOX_RETRY_BASE_MS: String(BASE_MS), OUTBOX_POLL_INTERVAL_MS: '50' },
    handlers: [
      notifyClientHandler,
      recordingHandler(log, {
        async behave(call) {
          // The first event of order 1 the handler sees (decided here: no race with the test).
          if (!first && call.aggregateId === '1') first = call.id;
          if (call.id !== first) return;
          const { rows } = await db.pool.query(
            'select now() as now, available_at, last_error from outbox where id = $1',
            [call.id],
          );
          seen.set(call.attempt, rows[0]);
          if (call.attempt <= 2) throw new Error(`attempt ${call.attempt} fails`);
        },
      }),
    ],
  });
  const [e1] = await changes(1, ['shipped']);
  const later = await changes(1, ['delivered', 'cancelled']);
  const [other] = await changes(3, ['paid']);

  await waitFor('the last event of order 1 to be done', async () => {
    return (await row(later[1]!)).status === 'done';
  });
  expect(first).toBe(e1);
  expect(await row(first)).toMatchObject({ status: 'done', attempts: 3, last_error: null });

  // Order 1's events ran one at a time in commit order: the later ones only after the third try.
  const order1 = log.calls.filter((c) => c.aggregateId === '1').map((c) => c.id);
  expect(order1).toEqual([first, first, first, ...later]);
  // Order 3 did not wait for order 1's retries.
  const ids = log.calls.map((c) => c.id);
  expect(ids.indexOf(other!)).toBeLessThan(ids.lastIndexOf(first));

  // The backoff is in available_at: each retry waited for it, and it grew (equal jitter keeps at
  // least half of base * 2^(attempt-1)); the last error was kept for the operator meanwhile.
  const [a1, a2, a3] = [seen.get(1)!, seen.get(2)!, seen.get(3)!];
  expect(a2.now.getTime()).toBeGreaterThanOrEqual(a2.available_at.getTime());
  expect(a3.now.getTime()).toBeGreaterThanOrEqual(a3.available_at.getTime());
  expect(a2.available_at.getTime() - a1.now.getTime()).toBeGreaterThanOrEqual(BASE_MS / 2);
  expect(a3.available_at.getTime() - a2.now.getTime()).toBeGreaterThanOrEqual(BASE_MS);
  expect(a2.last_error).toContain('attempt 1 fails');
  expect(a3.last_error).toContain('attempt 2 fails');
});

test('a handler that always fails: dead after OUTBOX_MAX_ATTEMPTS, then the order moves on; other orders unaffected', async () => {
  const log = createCallLog();
  let poison = '';
  await startTestService(db.url, {
    env: { OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_RETRY_BASE_MS: '50', OUTBOX_POLL_INTERVAL_MS: '50' },
    handlers: [
      notifyClientHandler,
      recordingHandler(log, {
        behave(call) {
          if (!poison && call.aggregateId === '1') poison = call.id;
          if (call.id === poison) throw new Error('always fails');
        },
      }),
    ],
  });
  const [e1] = await changes(1, ['shipped']);
  const later = await changes(1, ['delivered']);
  const others = await changes(3, ['paid', 'packed']);

  await waitFor('the later event of order 1 to be done', async () => {
    return (await row(later[0]!)).status === 'done';
  });
  expect(poison).toBe(e1);
  expect(await row(poison)).toMatchObject({
    status: 'dead',
    attempts: 3,
    last_error: 'recorder: always fails',
  });
  const order1 = log.calls.filter((c) => c.aggregateId === '1').map((c) => c.id);
  expect(order1).toEqual([poison, poison, poison, ...later]);
  for (const id of others) expect(await row(id)).toMatchObject({ status: 'done', attempts: 1 });
  // The notify-client handler succeeded on its first try and was not run again by the retries.
  expect((await row(poison)).deliveries['notify-client']).toMatchObject({
    status: 'done',
    attempts: 1,
  });
});
