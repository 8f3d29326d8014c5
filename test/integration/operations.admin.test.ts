import request from 'supertest';
import { buildApp } from '../../src/http/app';
import { createLogger } from '../../src/observability/logger';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createOrdersService } from '../../src/orders/orders.service';
import type { Service } from '../../src/service';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// The admin API through HTTP, against a running service and its database: events with their
// state in every subscription (outbox_delivery), retry of dead deliveries, replay, stats.

const TOKEN = 'test-admin-token-0123456789';
// Response bodies are checked by expect(), not by the type checker.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type JsonBody = any;

const db = useSeededDatabase();

async function admin(
  service: Service,
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
) {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${service.url}/admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as JsonBody };
}

async function lastEventOf(orderId: number): Promise<string> {
  const { rows } = await db.pool.query(
    `select max(id) as id from outbox where aggregate_type = 'order' and aggregate_id = $1`,
    [String(orderId)],
  );
  return rows[0].id;
}

/** Orders 1..n cancelled, one transaction each; waits until `served` delivered them all. */
async function changeOrders(n: number, served: string[] = ['notify-client']): Promise<string[]> {
  const ids: string[] = [];
  for (let id = 1; id <= n; id++) {
    await db.pool.query(`update orders set status = 'cancelled' where id = $1`, [id]);
    ids.push(await lastEventOf(id));
  }
  await waitUntilDelivered(db.pool, served);
  return ids;
}

/** What a replay's dry run must leave alone: the log, every position, every parked event. */
async function logAndPositions(): Promise<unknown> {
  const { rows } = await db.pool.query(
    `select (select count(*) from outbox) as events, (select max(id) from outbox) as head,
            (select json_agg(json_build_object('name', name, 'snapshot', snapshot::text,
                                               'batch', batch_snapshot::text, 'cursor', batch_cursor)
                             order by name)
               from outbox_subscriptions) as positions,
            (select count(*) from outbox_parked) as parked`,
  );
  return rows[0];
}

const done = (subscription: string) => ({
  subscription,
  state: 'done',
  attempts: null,
  lastError: null,
  nextAttemptAt: null,
});

describe('admin API authentication', () => {
  test('with ADMIN_TOKEN unset every admin route is a 404', async () => {
    const app = buildApp({
      logger: createLogger({ level: 'silent' }),
      orders: createOrdersService({ pool: db.pool }),
      readiness: async () => ({ ready: true, checks: {} }),
    });
    for (const path of ['/admin/outbox', '/admin/outbox/1', '/admin/stats']) {
      const res = await request(app).get(path).set('authorization', `Bearer ${TOKEN}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const retry = await request(app).post('/admin/outbox/1/retry');
    expect(retry.status).toBe(404);
  });

  test('no token and a wrong token are 401; the right token passes', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const none = await admin(service, '/stats', { token: null });
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: 'unauthorized' });
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);

    const wrong = await admin(service, '/stats', { token: `${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('the bearer token is wrong');
    // Not even a 404 leaks which admin paths exist.
    expect(
      (await admin(service, '/outbox/1/retry', { method: 'POST', token: 'nope' })).status,
    ).toBe(401);

    const right = await admin(service, '/stats');
    expect(right.status).toBe(200);
    expect(right.body.counts).toMatchObject({ pending: expect.any(Number) });
  });
});

describe('admin API: events and their deliveries', () => {
  test('lists events newest first with their state in each subscription, filtered and paged by id', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const changed = await changeOrders(3);

    const page1 = await admin(service, '/outbox?type=order.status_changed&limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.items).toEqual([
      expect.objectContaining({ id: changed[2], aggregateId: '3', status: 'done' }),
      expect.objectContaining({ id: changed[1], aggregateId: '2', status: 'done' }),
    ]);
    expect(page1.body.items[0].deliveries).toEqual([done('notify-client')]);
    expect(page1.body.nextBefore).toBe(changed[1]);
    const page2 = await admin(
      service,
      `/outbox?type=order.status_changed&limit=2&before=${page1.body.nextBefore}`,
    );
    expect(page2.body.items.map((r: { id: string }) => r.id)).toEqual([changed[0]]);
    expect(page2.body.nextBefore).toBeNull();

    // order.created is owed to no subscription here (notify-client takes status changes only).
    const order2 = await admin(service, '/outbox?aggregateType=order&aggregateId=2');
    expect(order2.body.items.map((r: JsonBody) => [r.type, r.status, r.deliveries.length])).toEqual(
      [
        ['order.status_changed', 'done', 1],
        ['order.created', 'done', 0],
      ],
    );
    expect((await admin(service, '/outbox?status=dead')).body.items).toEqual([]);
    expect((await admin(service, '/outbox?status=retrying')).body.items).toEqual([]);

    // Only parked states filter: 'done' and 'pending' are not a property of an event any more.
    const bad = await admin(service, '/outbox?status=done&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'limit',
      'status',
    ]);
  });

  test('shows one event with its payload and deliveries; 404 when missing', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const [id] = await changeOrders(1);
    const one = await admin(service, `/outbox/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      id,
      aggregateType: 'order',
      aggregateId: '1',
      type: 'order.status_changed',
      status: 'done',
      createdAt: expect.any(String),
      replayOf: null,
      payload: expect.objectContaining({ op: 'update', new: expect.any(Object) }),
      deliveries: [done('notify-client')],
    });
    expect(one.body.payload.new.status).toBe('cancelled');
    const missing = await admin(service, '/outbox/999999');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('outbox event 999999 does not exist');
  });

  test('retry puts a dead delivery back in line; only that subscription delivers again', async () => {
    let poisoned = true;
    const calls: string[] = [];
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        calls.push(`picky:${event.id}`);
        if (poisoned && event.aggregateId === '3') throw new PermanentError('the sink says no');
      },
    };
    const counting: ExternalHandler = {
      kind: 'external',
      name: 'counting',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        calls.push(`counting:${event.id}`);
      },
    };
    const handlers = [notifyClientHandler, picky, counting];
    const served = handlers.map((h) => h.name);
    const first = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN }, handlers });

    // Delivered everywhere: nothing to retry.
    const [healthy] = await changeOrders(1, served);
    const conflict = await admin(first, `/outbox/${healthy}/retry`, { method: 'POST' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('is dead in no subscription (it is done)'),
    });

    await db.pool.query(`update orders set status = 'delivered' where id = 3`);
    const id = await lastEventOf(3);
    await waitUntilDelivered(db.pool, served);
    const shown = await admin(first, `/outbox/${id}`);
    expect(shown.body.status).toBe('dead');
    expect(shown.body.deliveries).toEqual([
      done('counting'),
      done('notify-client'),
      {
        subscription: 'picky',
        state: 'dead',
        attempts: 1,
        lastError: 'the sink says no',
        nextAttemptAt: null,
      },
    ]);
    const dead = await admin(first, '/outbox?status=dead');
    expect(dead.body.items.map((r: { id: string }) => r.id)).toEqual([id]);

    // Nobody delivers while we look at what retry did (else the answer races the dispatcher).
    await first.dispatcher.stop(5_000);
    const retried = await admin(first, `/outbox/${id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id, status: 'pending' });
    expect(retried.body.deliveries).toEqual([
      done('counting'),
      done('notify-client'),
      {
        subscription: 'picky',
        state: 'pending',
        attempts: 0,
        // Kept until the next try replaces it.
        lastError: 'the sink says no',
        nextAttemptAt: expect.any(String),
      },
    ]);
    expect((await admin(first, '/outbox?status=dead')).body.items).toEqual([]);

    poisoned = false;
    await startTestService(db.url, { handlers });
    await waitFor(
      'the retried delivery done in picky',
      async () => (await deliveryOf(db.pool, id, 'picky'))?.state === 'done',
    );
    // counting and notify-client had delivered it: they did not run again.
    expect(calls.filter((c) => c.endsWith(`:${id}`)).sort()).toEqual([
      `counting:${id}`,
      `picky:${id}`,
      `picky:${id}`,
    ]);
    const { rows: notes } = await db.pool.query(
      'select count(*)::int as n from notifications where event_id = $1',
      [id],
    );
    expect(notes[0].n).toBe(1);

    const again = await admin(first, `/outbox/${id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict' });
    expect((await admin(first, '/outbox/999999/retry', { method: 'POST' })).status).toBe(404);
  });
});

describe('admin API: replay', () => {
  test('a dry run only counts and changes nothing; a replay appends copies that are delivered again', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const [first, , last] = await changeOrders(3);
    const before = await logAndPositions();

    const dry = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { fromId: first, toId: last, dryRun: true },
    });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ dryRun: true, matched: 3, replayed: 0, ids: [] });
    expect(await logAndPositions()).toEqual(before);

    const real = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { fromId: first, toId: last },
    });
    expect(real.body).toMatchObject({ dryRun: false, matched: 3, replayed: 3 });
    const copies: string[] = real.body.ids;
    expect(copies.every((c) => BigInt(c) > BigInt(last!))).toBe(true);

    // The copies are new events of the log: each gets its own notification.
    await waitUntilDelivered(db.pool, ['notify-client']);
    const { rows: replayed } = await db.pool.query(
      `select o.id, o.replay_of, n.subject from outbox o join notifications n on n.event_id = o.id
        where o.id = any($1::bigint[]) order by o.id`,
      [copies],
    );
    expect(replayed.map((r) => r.replay_of)).toEqual([first, String(BigInt(first!) + 1n), last]);
    expect(replayed[0].subject).toBe('Your order #1 is now cancelled');
    const copy = await admin(service, `/outbox/${copies[0]}`);
    expect(copy.body).toMatchObject({ replayOf: first, status: 'done' });
    // The originals were delivered once, and are untouched.
    const { rows: originals } = await db.pool.query(
      `select count(*)::int as n from notifications where event_id = any($1::bigint[])`,
      [[first, last]],
    );
    expect(originals[0].n).toBe(2);
  });

  test('replay by time range, and a body naming neither range is a 400', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    await changeOrders(2);
    const all = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z', dryRun: true },
    });
    // 12 order.created of the seed and 2 status changes.
    expect(all.body.matched).toBe(14);
    const none = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { from: '2000-01-01T00:00:00Z', to: '2000-01-02T00:00:00Z', dryRun: true },
    });
    expect(none.body.matched).toBe(0);

    const neither = await admin(service, '/outbox/replay', { method: 'POST', body: {} });
    expect(neither.status).toBe(400);
    const halfOpen = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { fromId: 1 },
    });
    expect(halfOpen.status).toBe(400);
    expect(halfOpen.body.error.details).toEqual([
      { path: 'toId', message: 'is required with the other end' },
    ]);
  });
});

describe('admin API: stats and parked filters', () => {
  /**
   * A service serving only `picky`, which refuses order 2 for good and order 3 for now (its retry
   * is an hour away). Orders 1, 2 and 3 change in one transaction, so that the three events are one
   * chunk: a failure among successes is parked (a chunk that only fails backs off instead).
   */
  async function pickyService(): Promise<{ service: Service; ids: string[] }> {
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        if (event.aggregateId === '2') throw new PermanentError('never order 2');
        if (event.aggregateId === '3') throw new Error('not order 3 yet');
      },
    };
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN: TOKEN, OUTBOX_RETRY_BASE_MS: '3600000' },
      handlers: [picky],
    });
    await db.pool.query(`update orders set status = 'cancelled' where id in (1, 2, 3)`);
    const ids = [await lastEventOf(1), await lastEventOf(2), await lastEventOf(3)];
    await waitFor(
      'order 3 parked in picky',
      async () => (await deliveryOf(db.pool, ids[2]!, 'picky'))?.state === 'retrying',
    );
    return { service, ids };
  }

  test('the list filters on parked state: dead, and retrying once a try failed', async () => {
    const { service, ids } = await pickyService();
    const dead = await admin(service, '/outbox?status=dead');
    expect(dead.body.items.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
    const retrying = await admin(service, '/outbox?status=retrying');
    expect(retrying.body.items).toHaveLength(1);
    expect(retrying.body.items[0]).toMatchObject({ id: ids[2], status: 'retrying' });
    const [inPicky] = retrying.body.items[0].deliveries.filter(
      (d: JsonBody) => d.subscription === 'picky',
    );
    expect(inPicky).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'not order 3 yet' });
    expect(Date.parse(inPicky.nextAttemptAt)).toBeGreaterThan(Date.now() + 60_000);
  });

  test('stats: each subscription with its holder, backlog, lag and parked counts; one nobody serves lags', async () => {
    const { service } = await pickyService();
    const stats = await admin(service, '/stats');
    expect(stats.status).toBe(200);
    // notify-client (created by the migration) has every event after its position still to
    // read: the seed's 12 order.created and the 3 status changes.
    expect(stats.body).toEqual({
      counts: { pending: 15, retrying: 1, dead: 1 },
      lagSeconds: expect.any(Number),
      subscriptions: [
        {
          name: 'notify-client',
          kind: 'sql',
          state: 'active',
          holder: null,
          backoffUntil: null,
          lastError: null,
          behind: 15,
          lagSeconds: expect.any(Number),
          retrying: 0,
          dead: 0,
        },
        {
          name: 'picky',
          kind: 'external',
          state: 'active',
          holder: service.dispatcher.workerId,
          backoffUntil: null,
          lastError: null,
          behind: 0,
          lagSeconds: 0,
          retrying: 1,
          dead: 1,
        },
      ],
      throughput: { lastMinute: 15, perSecond: 0.25 },
    });
    expect(stats.body.subscriptions[0].lagSeconds).toBeGreaterThan(0);
    expect(stats.body.lagSeconds).toBe(stats.body.subscriptions[0].lagSeconds);
  });
});
