import request from 'supertest';
import type { Express } from 'express';
import { buildApp } from '../../src/http/app';
import { createLogger } from '../../src/observability/logger';
import { createOrdersService } from '../../src/orders/orders.service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;
let app: Express;
let ready = true;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  app = buildApp({
    logger: createLogger({ level: 'silent' }),
    orders: createOrdersService({ pool: db.pool }),
    readiness: async () => ({ ready, checks: { listener: { ok: ready } } }),
  });
});
afterAll(() => db.drop());

async function outboxCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>('select count(*) as n from outbox');
  return Number(rows[0]!.n);
}
async function statusOf(id: number): Promise<string> {
  const { rows } = await db.pool.query('select status from orders where id = $1', [id]);
  return rows[0].status;
}

function expectError(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.body.error).toMatchObject({ code, message: expect.any(String) });
}

describe('PATCH /orders/update', () => {
  test('changes the status, answers the order, and writes one event', async () => {
    const before = await outboxCount();
    const res = await request(app).patch('/orders/update').send({ id: 1, status: 'shipped' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 1, clientId: 1, status: 'shipped' });
    expect(await statusOf(1)).toBe('shipped');
    expect(await outboxCount()).toBe(before + 1);
  });

  test('the same status again answers 200 and writes no event', async () => {
    await request(app).patch('/orders/update').send({ id: 3, status: 'paid' }).expect(200);
    const before = await outboxCount();
    const res = await request(app).patch('/orders/update').send({ id: 3, status: 'paid' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('paid');
    expect(await outboxCount()).toBe(before);
  });

  test.each([
    ['an unknown status', { id: 2, status: 'lost' }, 'status'],
    ['a missing status', { id: 2 }, 'status'],
    ['a missing id', { status: 'paid' }, 'id'],
    ['an id as a string', { id: '2', status: 'paid' }, 'id'],
    ['a float id', { id: 2.5, status: 'paid' }, 'id'],
    ['a negative id', { id: -2, status: 'paid' }, 'id'],
    ['an id beyond 32 bits', { id: 2 ** 31, status: 'paid' }, 'id'],
    ['an unknown field', { id: 2, status: 'paid', note: 'x' }, 'note'],
  ])('rejects %s with 400 naming the field, and changes nothing', async (_what, body, field) => {
    const before = await outboxCount();
    const statusBefore = await statusOf(2);
    const res = await request(app).patch('/orders/update').send(body);
    expectError(res, 400, 'validation_error');
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    expect(await outboxCount()).toBe(before);
    expect(await statusOf(2)).toBe(statusBefore);
  });

  test('an unknown order is a 404', async () => {
    const res = await request(app).patch('/orders/update').send({ id: 999_999, status: 'paid' });
    expectError(res, 404, 'not_found');
  });

  test('malformed JSON is a 400 invalid_json', async () => {
    const res = await request(app)
      .patch('/orders/update')
      .set('content-type', 'application/json')
      .send('{"id": 1, "status": ');
    expectError(res, 400, 'invalid_json');
  });

  test('a body that is not JSON is a 415', async () => {
    const res = await request(app)
      .patch('/orders/update')
      .set('content-type', 'text/plain')
      .send('id=1');
    expectError(res, 415, 'unsupported_media_type');
  });

  test('a body over 16 KiB is a 413', async () => {
    const res = await request(app)
      .patch('/orders/update')
      .send({ id: 1, status: 'paid', padding: 'x'.repeat(20_000) });
    expectError(res, 413, 'payload_too_large');
  });

  test('another method on the route is a 405 with Allow', async () => {
    const res = await request(app).get('/orders/update');
    expectError(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe('PATCH');
  });
});

describe('GET /orders/:id', () => {
  test('answers the order with its client and items', async () => {
    const res = await request(app).get('/orders/4');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: 4,
      client: { id: 2, name: 'Alan Turing' },
      items: expect.arrayContaining([expect.objectContaining({ sku: 'NB-A5', quantity: 5 })]),
    });
    expect(res.body.items).toHaveLength(3);
    expect(res.body.items[0]).toMatchObject({
      sku: 'LP-14',
      price: 59,
      description: expect.stringContaining('Aluminium'),
    });
    expect(res.body.total).toBe(59 + 89 + 5 * 9);
  });

  test('an unknown order is a 404, a malformed id a 400', async () => {
    expectError(await request(app).get('/orders/424242'), 404, 'not_found');
    expectError(await request(app).get('/orders/abc'), 400, 'validation_error');
  });
});

describe('other routes', () => {
  test('an unknown route is a JSON 404', async () => {
    expectError(await request(app).get('/nope'), 404, 'not_found');
  });

  test('healthz answers while the process is up; readyz reflects readiness', async () => {
    await request(app).get('/healthz').expect(200, { status: 'ok' });
    ready = true;
    expect((await request(app).get('/readyz')).status).toBe(200);
    ready = false;
    const res = await request(app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('not_ready');
    ready = true;
  });

  test('a request id is taken from x-request-id or made, and returned', async () => {
    const given = await request(app).get('/healthz').set('x-request-id', 'abc-123');
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await request(app).get('/healthz');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
