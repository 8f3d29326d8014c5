import type { Service } from '../../src/service';
import { PermanentError } from '../../src/outbox/handler';
import { ADMIN_TOKEN, adminCall, changeOrder, logAndPositions } from '../helpers/admin-api';
import { deliveryOf, parkedIn, waitUntilDelivered } from '../helpers/deliveries';
import { createCallLog, recordingHandler, type CallLog } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Retry and skip of parked events through HTTP, one or by filter (subscription, state, event
// type, aggregate, time range), each with a dry run and a cap; the order per aggregate kept.

const db = useSeededDatabase();

/**
 * A service serving `picky`: it refuses for good the orders in `dead`, and for now (its retry an
 * hour away) those in `later`; everything else it takes. Calls are recorded.
 */
async function pickyService(rules: { dead: Set<string>; later: Set<string> }): Promise<{
  service: Service;
  calls: CallLog;
}> {
  const calls = createCallLog();
  const service = await startTestService(db.url, {
    env: { ADMIN_TOKEN, OUTBOX_RETRY_BASE_MS: '3600000' },
    handlers: [
      recordingHandler(calls, {
        name: 'picky',
        behave: ({ aggregateId }) => {
          if (rules.dead.has(aggregateId)) throw new PermanentError(`never order ${aggregateId}`);
          if (rules.later.has(aggregateId)) throw new Error(`not order ${aggregateId} yet`);
        },
      }),
    ],
  });
  return { service, calls };
}

/** Changes the orders in one transaction (one chunk: failures among successes are parked). */
async function changeTogether(orders: number[]): Promise<string[]> {
  await db.pool.query(
    `update orders set status = case when status = 'cancelled' then 'pending' else 'cancelled' end
      where id = any($1::int[])`,
    [orders],
  );
  const { rows } = await db.pool.query<{ id: string }>(
    `select max(id)::text as id from outbox where aggregate_type = 'order'
        and aggregate_id = any($1::text[]) group by aggregate_id order by aggregate_id::int`,
    [orders.map(String)],
  );
  return rows.map((r) => r.id);
}

const stateIn = async (id: string) => (await deliveryOf(db.pool, id, 'picky'))?.state;

describe('retry by filter', () => {
  test('a dry run counts and changes nothing; the cap acts on the oldest first and says more match', async () => {
    const rules = { dead: new Set(['2', '3', '4']), later: new Set<string>() };
    const { service, calls } = await pickyService(rules);
    const [ok, d2, d3, d4] = await changeTogether([1, 2, 3, 4]);
    await waitFor('three dead in picky', async () => (await stateIn(d4!)) === 'dead');
    expect(await stateIn(ok!)).toBe('done');

    const before = await logAndPositions(db.pool);
    const dry = await adminCall(service.url, '/parked/retry', {
      method: 'POST',
      body: { subscription: 'picky', state: 'dead', dryRun: true },
    });
    expect(dry.body).toEqual({
      dryRun: true,
      matched: 3,
      more: false,
      acted: 0,
      items: [d2, d3, d4].map((eventId) => ({
        subscription: 'picky',
        eventId,
        state: 'dead',
        attempts: 1,
      })),
    });
    expect(await logAndPositions(db.pool)).toEqual(before);

    // Filters narrow: one aggregate.
    const one = await adminCall(service.url, '/parked/retry', {
      method: 'POST',
      body: { aggregateType: 'order', aggregateId: '3', dryRun: true },
    });
    expect(one.body.items.map((i: { eventId: string }) => i.eventId)).toEqual([d3]);

    rules.dead.clear();
    const capped = await adminCall(service.url, '/parked/retry', {
      method: 'POST',
      body: { subscription: 'picky', state: 'dead', limit: 2 },
    });
    expect(capped.body).toMatchObject({ dryRun: false, matched: 2, more: true, acted: 2 });
    await waitFor('d2 and d3 retried and done', async () => (await stateIn(d3!)) === 'done');
    expect(await stateIn(d2!)).toBe('done');
    expect(await stateIn(d4!)).toBe('dead');
    expect(calls.calls.filter((c) => c.id === d2).length).toBe(2);
    expect(calls.calls.filter((c) => c.id === d4).length).toBe(1);
  });

  test('by type and time range; a retried aggregate keeps its order: the later event waits behind the earlier', async () => {
    const rules = { dead: new Set(['6']), later: new Set<string>() };
    const { service, calls } = await pickyService(rules);
    const { rows } = await db.pool.query<{ t: Date }>('select clock_timestamp() as t');
    // Order 6 twice (each dead), with order 1 taken in each chunk.
    const [, first] = await changeTogether([1, 6]);
    const [, second] = await changeTogether([1, 6]);
    await waitFor('both dead', async () => (await stateIn(second!)) === 'dead');
    expect(await stateIn(first!)).toBe('dead');

    // Retried together; the first fails again (for now), so the second must wait behind it.
    rules.dead.clear();
    rules.later.add('6');
    const res = await adminCall(service.url, '/parked/retry', {
      method: 'POST',
      body: {
        type: 'order.status_changed',
        from: rows[0]!.t.toISOString(),
        to: '2999-01-01T00:00:00Z',
      },
    });
    expect(res.body).toMatchObject({ matched: 2, acted: 2 });
    await waitFor(
      'the first retried and failed again',
      async () => (await deliveryOf(db.pool, first!, 'picky'))?.attempts === 1,
    );
    const parked = await parkedIn(db.pool, 'picky');
    const waiting = parked.find((p) => p.event_id === second);
    expect(waiting).toMatchObject({ state: 'retrying', attempts: 0 });
    expect(waiting.available_at).toBe(Infinity);
    expect(calls.calls.filter((c) => c.id === second).length).toBe(1);

    // The first one goes through: the second follows, in order.
    rules.later.clear();
    await adminCall(service.url, `/outbox/${first}/retry`, { method: 'POST' }).then((r) =>
      expect(r.status).toBe(409),
    );
    const again = await adminCall(service.url, '/parked/retry', {
      method: 'POST',
      body: { eventId: first },
    });
    expect(again.body.acted).toBe(1);
    await waitUntilDelivered(db.pool, ['picky']);
    const six = calls.calls.filter((c) => c.aggregateId === '6').map((c) => c.id);
    expect(six).toEqual([first, second, first, first, second]);
  });
});

describe('skip', () => {
  test('one event: its parked delivery is given up, and the next event of its aggregate becomes due', async () => {
    const rules = { dead: new Set<string>(), later: new Set(['5']) };
    const { service, calls } = await pickyService(rules);
    const [, head] = await changeTogether([1, 5]);
    await waitFor('order 5 parked', async () => (await stateIn(head!)) === 'retrying');
    const behind = await changeOrder(db.pool, 5, 'paid');
    await waitFor('the next event of order 5 waiting', async () => {
      const rows = await parkedIn(db.pool, 'picky');
      return rows.some((p) => p.event_id === behind && p.available_at === Infinity);
    });

    rules.later.clear();
    const skipped = await adminCall(service.url, `/outbox/${head}/skip`, { method: 'POST' });
    expect(skipped.status).toBe(200);
    // Given up: nothing parked any more, its position passed it (outbox_delivery says done).
    expect(skipped.body.deliveries).toContainEqual(
      expect.objectContaining({ subscription: 'picky', state: 'done', attempts: null }),
    );
    await waitUntilDelivered(db.pool, ['picky']);
    // The skipped one was tried once only; the one behind it was delivered.
    expect(calls.calls.filter((c) => c.id === head).length).toBe(1);
    expect(calls.calls.filter((c) => c.id === behind).length).toBe(1);
    expect(await parkedIn(db.pool, 'picky')).toEqual([]);

    const nothing = await adminCall(service.url, `/outbox/${head}/skip`, { method: 'POST' });
    expect(nothing.status).toBe(409);
    expect(nothing.body.error.message).toMatch(/is parked in no subscription/);
  });

  test('by filter with a dry run; dead and retrying alike', async () => {
    const rules = { dead: new Set(['2']), later: new Set(['3']) };
    const { service } = await pickyService(rules);
    const [, dead, retrying] = await changeTogether([1, 2, 3]);
    await waitFor('3 parked', async () => (await stateIn(retrying!)) === 'retrying');
    expect(await stateIn(dead!)).toBe('dead');

    const dry = await adminCall(service.url, '/parked/skip', {
      method: 'POST',
      body: { subscription: 'picky', dryRun: true },
    });
    expect(dry.body).toMatchObject({ dryRun: true, matched: 2, acted: 0 });
    expect((await parkedIn(db.pool, 'picky')).length).toBe(2);

    const real = await adminCall(service.url, '/parked/skip', {
      method: 'POST',
      body: { subscription: 'picky', state: 'dead' },
    });
    expect(real.body).toMatchObject({ matched: 1, acted: 1 });
    expect((await parkedIn(db.pool, 'picky')).map((p) => p.event_id)).toEqual([retrying]);

    const bad = await adminCall(service.url, '/parked/skip', {
      method: 'POST',
      body: { limit: 10_001, state: 'done', eventId: '0' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'eventId',
      'limit',
      'state',
    ]);
  });
});
