import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Retries with backoff, dead after the maximum, and the order of one order's events kept through
// both, in one subscription, while the other orders and the other subscription go on.

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

const BASE_MS = 300;

/** The recorder's subscription is created at start: it takes the events written before. */
const FROM_THE_START = { OUTBOX_SUBSCRIPTION_START: 'beginning' };

test('a handler failing twice succeeds on the third try after growing backoffs; its order waits, other orders do not', async () => {
  // Written before the service starts: one chunk holds them all, so the failure is one among
  // successes (parked), not every call of a try (a back-off of the whole subscription).
  const [e1] = await changes(1, ['shipped']);
  const later = await changes(1, ['delivered', 'cancelled']);
  const [other] = await changes(3, ['paid']);
  const log = createCallLog();
  const extra: string[] = [];
  const seen = new Map<number, { now: Date; available_at: Date; last_error: string | null }>();
  await startTestService(db.url, {
    env: {
      ...FROM_THE_START,
      OUTBOX_RETRY_BASE_MS: String(BASE_MS),
      OUTBOX_POLL_INTERVAL_MS: '50',
    },
    handlers: [
      notifyClientHandler,
      recordingHandler(log, {
        async behave(call) {
          if (call.id !== e1) return;
          const { rows } = await db.pool.query(
            `select now() as now, p.available_at, p.last_error
               from (select 1) one
               left join outbox_parked p on p.subscription = 'recorder' and p.event_id = $1`,
            [call.id],
          );
          seen.set(call.attempt, rows[0]);
          // While e1 is parked, order 1 changes again: that event comes in a later chunk, and
          // must wait behind e1 too.
          if (call.attempt === 2) extra.push(...(await changes(1, ['packed'])));
          if (call.attempt <= 2) throw new Error(`attempt ${call.attempt} fails`);
        },
      }),
    ],
  });

  await waitFor('the extra event of order 1 delivered', async () => {
    return (
      extra.length === 1 && (await deliveryOf(db.pool, extra[0]!, 'recorder'))?.state === 'done'
    );
  });
  await waitUntilDelivered(db.pool, ['recorder']);
  expect(await deliveryOf(db.pool, e1!, 'recorder')).toMatchObject({ state: 'done' });

  // Order 1's events ran one at a time in commit order: the later ones only after the third try.
  const order1 = log.calls.filter((c) => c.aggregateId === '1').map((c) => c.id);
  expect(order1).toEqual([e1, e1, e1, ...later, ...extra]);
  expect(log.calls.filter((c) => c.id === e1).map((c) => c.attempt)).toEqual([1, 2, 3]);
  // Order 3 did not wait for order 1's retries.
  const ids = log.calls.map((c) => c.id);
  expect(ids.indexOf(other!)).toBeLessThan(ids.lastIndexOf(e1!));

  // The backoff is the parked event's available_at: each retry waited for it, and it grew
  // (equal jitter keeps at least half of base * 2^(attempt-1)); the last error was kept for the
  // operator meanwhile.
  const [a1, a2, a3] = [seen.get(1)!, seen.get(2)!, seen.get(3)!];
  expect(a1.available_at).toBeNull(); // not parked yet: its first try came from the log
  expect(a2.now.getTime()).toBeGreaterThanOrEqual(a2.available_at.getTime());
  expect(a3.now.getTime()).toBeGreaterThanOrEqual(a3.available_at.getTime());
  expect(a2.available_at.getTime() - a1.now.getTime()).toBeGreaterThanOrEqual(BASE_MS / 2);
  expect(a3.available_at.getTime() - a2.now.getTime()).toBeGreaterThanOrEqual(BASE_MS);
  expect(a2.last_error).toContain('attempt 1 fails');
  expect(a3.last_error).toContain('attempt 2 fails');
});

test('a handler that always fails: dead after OUTBOX_MAX_ATTEMPTS, then the order moves on; other orders and subscriptions unaffected', async () => {
  await auditNotificationInserts(db.pool);
  const [poison] = await changes(1, ['shipped']);
  const later = await changes(1, ['delivered']);
  const others = await changes(3, ['paid', 'packed']);
  const log = createCallLog();
  await startTestService(db.url, {
    env: {
      ...FROM_THE_START,
      OUTBOX_MAX_ATTEMPTS: '3',
      OUTBOX_RETRY_BASE_MS: '50',
      OUTBOX_POLL_INTERVAL_MS: '50',
    },
    handlers: [
      notifyClientHandler,
      recordingHandler(log, {
        behave(call) {
          if (call.id === poison) throw new Error('always fails');
        },
      }),
    ],
  });

  await waitFor(
    'the later event of order 1 delivered',
    async () => (await deliveryOf(db.pool, later[0]!, 'recorder'))?.state === 'done',
  );
  expect(await deliveryOf(db.pool, poison!, 'recorder')).toMatchObject({
    state: 'dead',
    attempts: 3,
    last_error: 'always fails',
  });
  const order1 = log.calls.filter((c) => c.aggregateId === '1').map((c) => c.id);
  expect(order1).toEqual([poison, poison, poison, ...later]);
  for (const id of others)
    expect(await deliveryOf(db.pool, id, 'recorder')).toMatchObject({ state: 'done' });
  // The other subscription delivered each event once, the dead one included.
  await waitUntilDelivered(db.pool, ['notify-client']);
  expect(await deliveryOf(db.pool, poison!, 'notify-client')).toMatchObject({ state: 'done' });
  expect(await notificationInserts(db.pool)).toMatchObject({ total: 4, twice: [] });
});
