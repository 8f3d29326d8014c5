import request from 'supertest';
import { buildApp } from '../../src/http/app';
import { createLogger } from '../../src/observability/logger';
import type { ExternalHandler } from '../../src/outbox/handler';
import { PermanentError } from '../../src/outbox/handler';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { createOrdersService } from '../../src/orders/orders.service';
import type { Service } from '../../src/service';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

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

async function outboxRow(id: string) {
  const { rows } = await db.pool.query('select * from outbox where id = $1', [id]);
  return rows[0];
}

async function allDone(): Promise<boolean> {
  const { rows } = await db.pool.query(
    `select count(*)::int as n from outbox where status in ('pending', 'processing')`,
  );
  return rows[0].n === 0;
}

/** Every event of the seed handled, and `n` status changes of order 1..n handled too. */
async function changeOrders(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let id = 1; id <= n; id++) {
    await db.pool.query(`update orders set status = 'cancelled' where id = $1`, [id]);
    const { rows } = await db.pool.query(
      `select max(id) as id from outbox where aggregate_id = $1::text`,
      [id],
    );
    ids.push(rows[0].id);
  }
  await waitFor('every event handled', allDone);
  return ids;
}

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

describe('admin API actions', () => {
  test('lists rows newest first, filtered by status, type and aggregate, paged by id', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const changed = await changeOrders(3);

    const page1 = await admin(service, '/outbox?type=order.status_changed&limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((r: { id: string }) => r.id)).toEqual([changed[2], changed[1]]);
    expect(page1.body.nextBefore).toBe(changed[1]);
    const page2 = await admin(
      service,
      `/outbox?type=order.status_changed&limit=2&before=${page1.body.nextBefore}`,
    );
    expect(page2.body.items.map((r: { id: string }) => r.id)).toEqual([changed[0]]);
    expect(page2.body.nextBefore).toBeNull();

    const order2 = await admin(service, '/outbox?aggregateType=order&aggregateId=2');
    expect(order2.body.items.map((r: { type: string }) => r.type)).toEqual([
      'order.status_changed',
      'order.created',
    ]);
    expect((await admin(service, '/outbox?status=dead')).body.items).toEqual([]);
    expect((await admin(service, '/outbox?status=done&limit=500')).body.items).toHaveLength(15);

    const bad = await admin(service, '/outbox?status=lost&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'limit',
      'status',
    ]);
  });

  test('shows one row with its payload, deliveries and last error; 404 when missing', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const [id] = await changeOrders(1);
    const one = await admin(service, `/outbox/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      id,
      aggregateType: 'order',
      aggregateId: '1',
      type: 'order.status_changed',
      status: 'done',
      attempts: 1,
      lastError: null,
      replayOf: null,
      payload: { op: 'update', new: { status: 'cancelled' } },
      deliveries: { 'notify-client': { status: 'done', attempts: 1 } },
    });
    const missing = await admin(service, '/outbox/999999');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('outbox event 999999 does not exist');
  });

  test('retry puts a dead row back in line; only its failed handler runs again', async () => {
    let poisoned = true;
    const calls: string[] = [];
    const picky: ExternalHandler = {
      kind: 'external',
      name: 'picky',
      eventTypes: ['order.status_changed'],
      async handle(event) {
        calls.push(`picky:${event.id}`);
        if (poisoned) throw new PermanentError('the sink says no');
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
    const service = await startTestService(db.url, {
      env: { ADMIN_TOKEN: TOKEN },
      handlers: [notifyClientHandler, picky, counting],
    });
    await db.pool.query(`update orders set status = 'delivered' where id = 3`);
    const { rows } = await db.pool.query(`select max(id) as id from outbox`);
    const id: string = rows[0].id;
    await waitFor('the event to be dead', async () => (await outboxRow(id)).status === 'dead');

    const shown = await admin(service, `/outbox/${id}`);
    expect(shown.body.lastError).toContain('the sink says no');
    expect(shown.body.deliveries).toMatchObject({
      picky: { status: 'dead', error: 'the sink says no' },
      counting: { status: 'done' },
      'notify-client': { status: 'done' },
    });
    expect((await admin(service, '/outbox?status=dead')).body.items).toHaveLength(1);

    poisoned = false;
    const retried = await admin(service, `/outbox/${id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id, status: 'pending', attempts: 0 });
    expect(Object.keys(retried.body.deliveries).sort()).toEqual(['counting', 'notify-client']);

    const done = await waitFor('the retried event to be done', async () => {
      const r = await outboxRow(id);
      return r.status === 'done' && r;
    });
    expect(done.attempts).toBe(1);
    expect(done.deliveries.picky).toMatchObject({ status: 'done' });
    // counting and notify-client were done: not run again.
    expect(calls).toEqual([`picky:${id}`, `counting:${id}`, `picky:${id}`]);
    const { rows: notes } = await db.pool.query(
      'select count(*)::int as n from notifications where event_id = $1',
      [id],
    );
    expect(notes[0].n).toBe(1);

    const again = await admin(service, `/outbox/${id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict' });
    expect((await admin(service, '/outbox/999999/retry', { method: 'POST' })).status).toBe(404);
  });

  test('replay re-queues done events of an id range as new events; a dry run only counts', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    const [first, , last] = await changeOrders(3);
    const { rows: before } = await db.pool.query('select count(*)::int as n from outbox');

    const dry = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { fromId: first, toId: last, dryRun: true },
    });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ dryRun: true, matched: 3, replayed: 0, ids: [] });
    const { rows: afterDryRun } = await db.pool.query('select count(*)::int as n from outbox');
    expect(afterDryRun[0].n).toBe(before[0].n);

    const real = await admin(service, '/outbox/replay', {
      method: 'POST',
      body: { fromId: first, toId: last },
    });
    expect(real.body).toMatchObject({ dryRun: false, matched: 3, replayed: 3 });
    const copies: string[] = real.body.ids;
    expect(copies.every((c) => BigInt(c) > BigInt(last!))).toBe(true);
    const { rows: after } = await db.pool.query('select count(*)::int as n from outbox');
    expect(after[0].n).toBe(before[0].n + 3);

    // The copies are handled as new events: each gets its own notification.
    await waitFor('the copies handled', allDone);
    const { rows: replayed } = await db.pool.query(
      `select o.id, o.replay_of, n.subject from outbox o join notifications n on n.event_id = o.id
        where o.id = any($1::bigint[]) order by o.id`,
      [copies],
    );
    expect(replayed.map((r) => r.replay_of)).toEqual([first, String(BigInt(first!) + 1n), last]);
    expect(replayed[0].subject).toBe('Your order #1 is now cancelled');
    // The originals are untouched.
    expect((await outboxRow(first!)).status).toBe('done');
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

  test('stats: counts by status, lag and the throughput of the last minute', async () => {
    const service = await startTestService(db.url, { env: { ADMIN_TOKEN: TOKEN } });
    await changeOrders(2);
    const stats = await admin(service, '/stats');
    expect(stats.body).toEqual({
      counts: { pending: 0, processing: 0, done: 14, dead: 0 },
      lagSeconds: 0,
      throughput: { lastMinute: 14, perSecond: expect.any(Number) },
    });
  });
});
