import type { OutboxEventMap } from '../../src/outbox/events';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import type { Service } from '../../src/service';
import {
  ADMIN_TOKEN,
  adminCall,
  changeOrder,
  logAndPositions,
  type JsonBody,
} from '../helpers/admin-api';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { createCallLog, recordingHandler, type CallLog } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// The admin API's subscription routes through HTTP, against a running service and its database:
// pause and resume, rewind and forward (with their dry runs), and the fencing that makes them safe
// while a holder is delivering. What a duplicate would change is counted: the recording handlers'
// calls, and every insert the built-in SQL subscription attempts (test/helpers/effect-audit.ts).

const db = useSeededDatabase();

/** How many times `log` handled each of `ids`. */
const timesHandled = (log: CallLog, ids: readonly string[]) =>
  ids.map((id) => log.calls.filter((c) => c.id === id).length);

/** Resolves when a lane of `service` reports `subscription` paused (or resumed). */
function lanePaused(service: Service, subscription: string, paused: boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = (e: OutboxEventMap['subscription:paused']) => {
      if (e.subscription !== subscription || e.paused !== paused) return;
      service.events.off('subscription:paused', listener);
      resolve();
    };
    service.events.on('subscription:paused', listener);
  });
}

/** A service serving two recorders, a and b (order.status_changed). */
async function twoRecorders(
  env: Record<string, string> = {},
): Promise<{ service: Service; a: CallLog; b: CallLog }> {
  const a = createCallLog();
  const b = createCallLog();
  const service = await startTestService(db.url, {
    env: { ADMIN_TOKEN, ...env },
    handlers: [recordingHandler(a, { name: 'a' }), recordingHandler(b, { name: 'b' })],
  });
  return { service, a, b };
}

describe('pause and resume', () => {
  test('a paused subscription stops at once, keeps its position, and delivers what waited once resumed', async () => {
    // A fallback poll of a minute: pausing and resuming must take effect through the NOTIFY.
    const { service, a, b } = await twoRecorders({ OUTBOX_POLL_INTERVAL_MS: '60000' });
    const first = await changeOrder(db.pool, 1);
    await waitUntilDelivered(db.pool, ['a', 'b']);

    const noticed = lanePaused(service, 'a', true);
    const paused = await adminCall(service.url, '/subscriptions/a/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ name: 'a', state: 'paused' });
    // The holder's lane sees it at its next statement (fenced), not at its next lease.
    await noticed;

    const waiting = [await changeOrder(db.pool, 2), await changeOrder(db.pool, 3)];
    await waitUntilDelivered(db.pool, ['b']);
    expect(timesHandled(b, waiting)).toEqual([1, 1]);
    expect(timesHandled(a, waiting)).toEqual([0, 0]);
    const shown = await adminCall(service.url, '/subscriptions/a');
    expect(shown.body).toMatchObject({
      state: 'paused',
      lag: { events: 2, more: false },
      position: { next: { id: waiting[0] } },
    });
    expect(shown.body.lag.seconds).toBeGreaterThan(0);
    for (const id of waiting) expect((await deliveryOf(db.pool, id, 'a'))?.state).toBe('pending');

    const resumedAt = a.calls.length;
    const resumed = await adminCall(service.url, '/subscriptions/a/resume', { method: 'POST' });
    expect(resumed.body.state).toBe('active');
    await waitUntilDelivered(db.pool, ['a']);
    expect(a.calls.slice(resumedAt).map((c) => c.id)).toEqual(waiting);
    expect(timesHandled(a, [first, ...waiting])).toEqual([1, 1, 1]);
    expect((await adminCall(service.url, '/subscriptions/a')).body.lag).toMatchObject({
      events: 0,
      seconds: 0,
    });
  });

  test('pause and resume are idempotent; an unknown subscription is a 404', async () => {
    const { service } = await twoRecorders();
    for (const action of ['pause', 'pause', 'resume', 'resume']) {
      const res = await adminCall(service.url, `/subscriptions/b/${action}`, { method: 'POST' });
      expect(res.status).toBe(200);
    }
    const missing = await adminCall(service.url, '/subscriptions/nope/pause', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('subscription nope does not exist');
    expect((await adminCall(service.url, '/subscriptions/nope')).status).toBe(404);
  });
});

describe('rewind', () => {
  test('redelivers exactly the events from the target on, to that subscription only; its dry run changes nothing', async () => {
    await auditNotificationInserts(db.pool);
    const a = createCallLog();
    const b = createCallLog();
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN },
      handlers: [
        notifyClientHandler,
        recordingHandler(a, { name: 'a' }),
        recordingHandler(b, { name: 'b' }),
      ],
    });
    const served = ['notify-client', 'a', 'b'];
    const ids: string[] = [];
    for (let order = 1; order <= 6; order++) ids.push(await changeOrder(db.pool, order));
    await waitUntilDelivered(db.pool, served);
    expect(timesHandled(a, ids)).toEqual([1, 1, 1, 1, 1, 1]);

    const before = await logAndPositions(db.pool);
    const dry = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: ids[3], dryRun: true },
    });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({
      subscription: 'a',
      direction: 'rewind',
      dryRun: true,
      from: { id: ids[3], createdAt: expect.any(String) },
      deliverAgain: { count: 3, more: false },
      skip: { count: 0, more: false },
      keptOwed: 0,
      unparked: 0,
    });
    expect(await logAndPositions(db.pool)).toEqual(before);

    const real = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: ids[3] },
    });
    expect(real.body).toMatchObject({ dryRun: false, deliverAgain: { count: 3 } });
    await waitFor('a to handle events 4 to 6 again', () => a.calls.length === 9);
    await waitUntilDelivered(db.pool, served);
    expect(timesHandled(a, ids)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(timesHandled(b, ids)).toEqual([1, 1, 1, 1, 1, 1]);

    // The SQL subscription: its effect attempted again for 5 and 6 only (the audit counts every
    // committed insert attempt; notifications itself would hide a second one).
    await adminCall(service.url, '/subscriptions/notify-client/rewind', {
      method: 'POST',
      body: { fromId: ids[4] },
    });
    await waitFor(
      'notify-client to run its effect for events 5 and 6 again',
      async () => (await notificationInserts(db.pool)).total === 8,
    );
    await waitUntilDelivered(db.pool, served);
    const audit = await notificationInserts(db.pool);
    expect(audit.twice.sort()).toEqual([ids[4], ids[5]].sort());
    expect(audit.total).toBe(8);
    expect(timesHandled(a, ids)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(timesHandled(b, ids)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  test('to a time: from the first event written at or after it; a time after the last event is a 409', async () => {
    const { service, a } = await twoRecorders();
    const early = [await changeOrder(db.pool, 1), await changeOrder(db.pool, 2)];
    const { rows } = await db.pool.query<{ t: Date }>('select clock_timestamp() as t');
    const late = [await changeOrder(db.pool, 3), await changeOrder(db.pool, 4)];
    await waitUntilDelivered(db.pool, ['a', 'b']);

    const res = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromTime: rows[0]!.t.toISOString() },
    });
    expect(res.body).toMatchObject({ from: { id: late[0] }, deliverAgain: { count: 2 } });
    await waitFor('a to handle the late events again', () => a.calls.length === 6);
    await waitUntilDelivered(db.pool, ['a']);
    expect(timesHandled(a, [...early, ...late])).toEqual([1, 1, 2, 2]);

    const future = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromTime: '2999-01-01T00:00:00Z', dryRun: true },
    });
    expect(future.status).toBe(409);
    expect(future.body.error.message).toMatch(/no event was written at or after/);
  });

  test('"from N" is by id, not by writer transaction: the events of N\'s writer before N are not delivered again', async () => {
    const { service, a } = await twoRecorders();
    // One writer transaction, two events: order 9's, then order 10's.
    await db.pool.query(
      `update orders set status = 'cancelled' where id = 9;
       update orders set status = 'cancelled' where id = 10;`,
    );
    const { rows } = await db.pool.query<{ id: string; xid: string }>(
      `select id::text, xid::text from outbox where aggregate_id in ('9', '10')
          and event_type = 'order.status_changed' order by id`,
    );
    expect(rows.map((r) => r.xid)).toEqual([rows[0]!.xid, rows[0]!.xid]);
    const after = await changeOrder(db.pool, 11);
    await waitUntilDelivered(db.pool, ['a']);

    const res = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: rows[1]!.id },
    });
    expect(res.body.deliverAgain).toEqual({ count: 2, more: false });
    await waitFor('a to handle two events again', () => a.calls.length === 5);
    await waitUntilDelivered(db.pool, ['a']);
    expect(timesHandled(a, [rows[0]!.id, rows[1]!.id, after])).toEqual([1, 2, 2]);
  });

  test('never skips: what it still owed before the target is delivered too, in order per aggregate', async () => {
    const { service, a } = await twoRecorders();
    await adminCall(service.url, '/subscriptions/a/pause', { method: 'POST' });
    // Owed and not read yet: order 7 twice, then order 8. Rewinding to the second one must not
    // lose the first.
    const owed = [
      await changeOrder(db.pool, 7),
      await changeOrder(db.pool, 7, 'paid'),
      await changeOrder(db.pool, 8),
    ];
    const dry = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: owed[1], dryRun: true },
    });
    expect(dry.body).toMatchObject({ deliverAgain: { count: 0 }, keptOwed: 1, unparked: 0 });
    await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: owed[1] },
    });
    // Kept: parked, due, the order's next event waiting behind it once read.
    expect((await deliveryOf(db.pool, owed[0]!, 'a'))?.state).toBe('pending');

    await adminCall(service.url, '/subscriptions/a/resume', { method: 'POST' });
    await waitUntilDelivered(db.pool, ['a']);
    expect(timesHandled(a, owed)).toEqual([1, 1, 1]);
    expect(a.byAggregate().get('7')).toEqual([owed[0], owed[1]]);
  });

  test('is fenced: a holder delivering when it is rewound cannot move the position past it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let block = false;
    const a = createCallLog();
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN },
      handlers: [
        recordingHandler(a, {
          name: 'a',
          behave: async () => {
            if (block) await held;
          },
        }),
      ],
    });
    const ids = [await changeOrder(db.pool, 1), await changeOrder(db.pool, 2)];
    await waitUntilDelivered(db.pool, ['a']);
    block = true;
    const stuck = await changeOrder(db.pool, 3);
    await waitFor('a to be delivering the third event', () => a.calls.some((c) => c.id === stuck));

    // Rewound while that delivery runs: its round's advance (past the third event) is refused.
    const res = await adminCall(service.url, '/subscriptions/a/rewind', {
      method: 'POST',
      body: { fromId: ids[1] },
    });
    expect(res.status).toBe(200);
    block = false;
    release();
    await waitFor('a to deliver from the second event again', () => a.calls.length >= 5);
    await waitUntilDelivered(db.pool, ['a']);
    // 1 once; 2 twice (the rewind); 3 twice (the fenced round, then from the new position).
    expect(timesHandled(a, [...ids, stuck])).toEqual([1, 2, 2]);
  });
});

describe('forward', () => {
  test('skips what it owes before the target, never delivers anything again; from now skips everything', async () => {
    const { service, a } = await twoRecorders();
    const delivered = await changeOrder(db.pool, 1);
    await waitUntilDelivered(db.pool, ['a']);
    await adminCall(service.url, '/subscriptions/a/pause', { method: 'POST' });
    const owed = [
      await changeOrder(db.pool, 2),
      await changeOrder(db.pool, 3),
      await changeOrder(db.pool, 4),
    ];
    // b's position must not move while the dry run is compared.
    await waitUntilDelivered(db.pool, ['b']);
    const before = await logAndPositions(db.pool);
    const dry = await adminCall(service.url, '/subscriptions/a/forward', {
      method: 'POST',
      body: { fromId: owed[2], dryRun: true },
    });
    expect(dry.body).toMatchObject({
      direction: 'forward',
      from: { id: owed[2] },
      deliverAgain: { count: 0, more: false },
      skip: { count: 2, more: false },
    });
    expect(await logAndPositions(db.pool)).toEqual(before);
    await adminCall(service.url, '/subscriptions/a/forward', {
      method: 'POST',
      body: { fromId: owed[2] },
    });
    await adminCall(service.url, '/subscriptions/a/resume', { method: 'POST' });
    await waitUntilDelivered(db.pool, ['a']);
    expect(timesHandled(a, [delivered, ...owed])).toEqual([1, 0, 0, 1]);

    // Behind its position: nothing to skip, and nothing delivered again.
    const behind = await adminCall(service.url, '/subscriptions/a/forward', {
      method: 'POST',
      body: { fromId: delivered },
    });
    expect(behind.body).toMatchObject({ deliverAgain: { count: 0 }, skip: { count: 0 } });

    await adminCall(service.url, '/subscriptions/a/pause', { method: 'POST' });
    const skipped = [await changeOrder(db.pool, 5), await changeOrder(db.pool, 6)];
    const now = await adminCall(service.url, '/subscriptions/a/forward', {
      method: 'POST',
      body: { from: 'now' },
    });
    expect(now.body).toMatchObject({ from: null, skip: { count: 2 } });
    await adminCall(service.url, '/subscriptions/a/resume', { method: 'POST' });
    const fresh = await changeOrder(db.pool, 7);
    await waitUntilDelivered(db.pool, ['a']);
    await waitFor('a to handle the fresh event', () => a.calls.some((c) => c.id === fresh));
    expect(timesHandled(a, [delivered, ...owed, ...skipped, fresh])).toEqual([1, 0, 0, 1, 0, 0, 1]);
  });

  test('bodies are checked: exactly one target, ids within bigint, real times', async () => {
    const { service } = await twoRecorders();
    const cases: [string, unknown][] = [
      ['/subscriptions/a/rewind', {}],
      ['/subscriptions/a/rewind', { fromId: '1', from: 'oldest' }],
      ['/subscriptions/a/rewind', { from: 'now' }],
      ['/subscriptions/a/forward', { from: 'oldest' }],
      ['/subscriptions/a/rewind', { fromId: '9223372036854775808' }],
      ['/subscriptions/a/forward', { fromTime: '2024-02-30T00:00:00Z' }],
      ['/subscriptions/a/forward', { fromTime: '2024-01-01T00:00:00+23:00' }],
      ['/subscriptions/a/rewind', { fromId: '1', extra: true }],
    ];
    for (const [path, body] of cases) {
      const res = await adminCall(service.url, path, { method: 'POST', body });
      expect([path, body, res.status]).toEqual([path, body, 400]);
      expect(res.body.error.code).toBe('validation_error');
    }
    const unknown = await adminCall(service.url, '/subscriptions/nope/rewind', {
      method: 'POST',
      body: { from: 'oldest', dryRun: true },
    });
    expect(unknown.status).toBe(404);
  });
});

describe('list', () => {
  test('every subscription with its kind, state, holder, position, lag, parked counts and throughput', async () => {
    const { service } = await twoRecorders();
    for (let order = 1; order <= 3; order++) await changeOrder(db.pool, order);
    await waitUntilDelivered(db.pool, ['a', 'b']);
    await adminCall(service.url, '/subscriptions/b/pause', { method: 'POST' });
    await changeOrder(db.pool, 4);

    const list = await waitFor('a throughput of a over the last minute', async () => {
      const res = await adminCall(service.url, '/subscriptions');
      const a = res.body.items.find((s: JsonBody) => s.name === 'a');
      return a?.throughput.perSecond > 0 && a.lag.events === 0 && res;
    });
    expect(list.status).toBe(200);
    expect(list.body.items.map((s: JsonBody) => s.name)).toEqual(['a', 'b', 'notify-client']);
    const [a, b, notify] = list.body.items;
    expect(a).toEqual({
      name: 'a',
      kind: 'external',
      eventTypes: ['order.status_changed'],
      state: 'active',
      backoffUntil: null,
      lastError: null,
      holder: service.dispatcher.workerId,
      leaseUntil: expect.any(String),
      position: {
        snapshot: expect.stringMatching(/^\d+:\d+:/),
        batch: null,
        origin: expect.any(String),
        next: null,
      },
      lag: { events: 0, more: false, seconds: 0 },
      parked: { retrying: 0, waiting: 0, dead: 0 },
      throughput: {
        perSecond: expect.any(Number),
        failedPerSecond: 0,
        heldHere: true,
      },
      createdAt: expect.any(String),
    });
    expect(b).toMatchObject({ state: 'paused', lag: { events: 1 } });
    // Nobody serves notify-client here: it lags behind every event after its position.
    expect(notify).toMatchObject({ holder: null, throughput: { heldHere: false } });
    expect(notify.lag.events).toBeGreaterThanOrEqual(16);
  });
});
