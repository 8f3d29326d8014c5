import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import type { Express } from 'express';
import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import { createAdminService } from '../../src/admin/admin.service';
import { ERROR_CODES } from '../../src/app-error';
import { createPool } from '../../src/db/pool';
import { buildApp } from '../../src/http/app';
import { SERVER_LIMITS } from '../../src/http/http-server';
import { createLogger, type Logger } from '../../src/observability/logger';
import { createOrdersService } from '../../src/orders/orders.service';
import type { OutboxEvent } from '../../src/outbox/event-types';
import type { Service } from '../../src/service';
import { createWebhookSink } from '../../src/sinks/webhook.sink';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, stopAllServices } from '../helpers/service';
import { openStream, type OpenedStream } from '../helpers/sse';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

const silent = createLogger({ level: 'silent' });

let db: TestDatabase;
let service: Service;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  service = await startTestService(db.url);
});
afterAll(async () => {
  await stopAllServices();
  await db.drop();
});

/** The API with its own pool, so a test can starve or point it elsewhere. */
function appOn(pool: pg.Pool, logger: Logger = silent): Express {
  return buildApp({
    logger,
    orders: createOrdersService({ pool }),
    readiness: async () => ({ ready: true, checks: {} }),
  });
}

const ADMIN_TOKEN = 'hardening-admin-token-0123';

/** The API with the admin routes on, in process. */
function adminApp(): Express {
  return buildApp({
    logger: silent,
    orders: createOrdersService({ pool: db.pool }),
    readiness: async () => ({ ready: true, checks: {} }),
    admin: { service: createAdminService({ pool: db.pool }), token: ADMIN_TOKEN },
  });
}

function expectError(res: { status: number; body: unknown; headers: object }, code: string): void {
  expect(res.status).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES]);
  expect(res.body).toEqual({
    error: expect.objectContaining({
      code,
      message: expect.any(String),
      requestId: expect.any(String),
    }),
  });
}

async function outboxCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>('select count(*) as n from outbox');
  return Number(rows[0]!.n);
}

/** Sends raw bytes on a fresh connection and returns everything the server answers. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

function parseRawResponse(raw: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  return {
    status: Number(head.split(' ')[1]),
    headers: head.toLowerCase(),
    body: JSON.parse(body),
  };
}

describe('safe headers', () => {
  test.each([
    ['a success', '/readyz', 200],
    ['a 404', '/nope', 404],
  ])('helmet headers on %s, and no x-powered-by', async (_what, path, status) => {
    const res = await request(service.url).get(path);
    expect(res.status).toBe(status);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  test('no HSTS, upgrade-insecure-requests or COOP unless the service is told it is behind HTTPS', async () => {
    const plain = await request(appOn(db.pool)).get('/healthz');
    expect(plain.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(plain.headers['strict-transport-security']).toBeUndefined();
    expect(plain.headers['cross-origin-opener-policy']).toBeUndefined();
    const behind = buildApp({
      logger: silent,
      orders: createOrdersService({ pool: db.pool }),
      readiness: async () => ({ ready: true, checks: {} }),
      http: { behindHttps: true },
    });
    const tls = await request(behind).get('/healthz');
    expect(tls.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    expect(tls.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(tls.headers['cross-origin-opener-policy']).toBe('same-origin');
  });

  test('the server runs with the documented limits', () => {
    const { server } = service;
    expect(server.headersTimeout).toBe(SERVER_LIMITS.headersTimeoutMs);
    expect(server.requestTimeout).toBe(SERVER_LIMITS.requestTimeoutMs);
    expect(server.keepAliveTimeout).toBe(SERVER_LIMITS.keepAliveTimeoutMs);
    expect(server.maxHeadersCount).toBe(SERVER_LIMITS.maxHeadersCount);
    expect(server.maxConnections).toBe(SERVER_LIMITS.maxConnections);
    expect(server.timeout).toBe(SERVER_LIMITS.socketIdleTimeoutMs);
  });
});

describe('every bad input answered in the error format', () => {
  test.each([
    ['a __proto__ key', '{"id": 2, "status": "paid", "__proto__": {"admin": true}}', '__proto__'],
    ['a constructor key', '{"id": 2, "status": "paid", "constructor": {"x": 1}}', 'constructor'],
    ['a numeric string id', '{"id": "2", "status": "paid"}', 'id'],
    ['an id of 0', '{"id": 0, "status": "paid"}', 'id'],
    ['an id in exponent form beyond 32 bits', '{"id": 1e10, "status": "paid"}', 'id'],
    ['a boolean id', '{"id": true, "status": "paid"}', 'id'],
    ['a status of another case', '{"id": 2, "status": "PAID"}', 'status'],
    ['an array body', '[{"id": 2, "status": "paid"}]', '(body)'],
  ])('%s is a 400 naming the field, and nothing changes', async (_what, body, field) => {
    const before = await outboxCount();
    const res = await request(service.url)
      .patch('/orders/update')
      .set('content-type', 'application/json')
      .send(body);
    expectError(res, 'validation_error');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ path: field }));
    expect(await outboxCount()).toBe(before);
  });

  test('a path with broken percent-encoding is a 400, not a 500', async () => {
    expectError(await request(service.url).get('/orders/%E0%A4%A'), 'bad_request');
  });

  test('a gzip body that is not gzip is a 400; an unknown content-encoding a 415', async () => {
    const corrupt = await request(service.url)
      .patch('/orders/update')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send('{"id": 2, "status": "paid"}');
    expectError(corrupt, 'bad_request');
    const unknown = await request(service.url)
      .patch('/orders/update')
      .set('content-type', 'application/json')
      .set('content-encoding', 'zip-bomb')
      .send('{"id": 2, "status": "paid"}');
    expectError(unknown, 'unsupported_media_type');
  });

  test('the body limit counts the decompressed bytes', async () => {
    const inflated = JSON.stringify({ id: 2, status: 'paid', pad: ' '.repeat(100_000) });
    // fetch, not supertest: superagent would JSON-encode a Buffer sent as application/json.
    const res = await fetch(`${service.url}/orders/update`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(inflated),
    });
    expectError({ status: res.status, body: await res.json(), headers: {} }, 'payload_too_large');
  });

  test('a charset other than UTF-8 is a 415', async () => {
    const res = await request(service.url)
      .patch('/orders/update')
      .set('content-type', 'application/json; charset=latin1')
      .send('{"id": 2, "status": "paid"}');
    expectError(res, 'unsupported_media_type');
  });

  test('bytes that are not HTTP get a JSON 400 before Express', async () => {
    const port = new URL(service.url).port;
    const res = parseRawResponse(await rawExchange(Number(port), 'HELLO THERE\r\n\r\n'));
    expect(res.status).toBe(400);
    expect(res.headers).toContain('content-type: application/json');
    expectError({ ...res, headers: {} }, 'bad_request');
  });

  test('headers over the limit get a JSON 431', async () => {
    const port = new URL(service.url).port;
    const huge = `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(SERVER_LIMITS.maxHeaderBytes)}\r\n\r\n`;
    const res = parseRawResponse(await rawExchange(Number(port), huge));
    expectError({ ...res, headers: {} }, 'headers_too_large');
  });
});

describe('failures of our own', () => {
  test('an unexpected error is a 500 with a request id, no SQL and no stack; the log has both', async () => {
    // A database nobody migrated: every query fails with "relation ... does not exist".
    const bare = await createTestDatabase({ migrated: false });
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    try {
      const res = await request(appOn(bare.pool, logger)).get('/orders/1');
      expectError(res, 'internal_error');
      const text = JSON.stringify(res.body);
      for (const leak of ['relation', 'select', 'orders o', '42P01', '    at ']) {
        expect(text).not.toContain(leak);
      }
      expect(res.body.error.message).toContain(res.body.error.requestId);
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unexpected error');
      expect(logged).toMatchObject({ reqId: res.body.error.requestId });
      expect(logged.err.message).toMatch(/relation "orders" does not exist/);
    } finally {
      await bare.drop();
    }
  });

  test('the pool exhausted: 503 with Retry-After after the connect timeout, then recovery', async () => {
    const pool = createPool({
      connectionString: db.url,
      max: 1,
      logger: silent,
      connectTimeoutMs: 300,
    });
    const held = await pool.connect();
    try {
      const before = await outboxCount();
      const res = await request(appOn(pool))
        .patch('/orders/update')
        .send({ id: 6, status: 'paid' });
      expectError(res, 'database_unavailable');
      expect(res.headers['retry-after']).toBe('1');
      expect(await outboxCount()).toBe(before);
    } finally {
      held.release();
    }
    try {
      await request(appOn(pool)).get('/orders/6').expect(200);
    } finally {
      await pool.end();
    }
  });

  test('the database unreachable: 503 with Retry-After', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const url = new URL(db.url);
    url.port = String(closed);
    const pool = createPool({ connectionString: url.toString(), max: 2, logger: silent });
    try {
      const res = await request(appOn(pool))
        .patch('/orders/update')
        .send({ id: 6, status: 'paid' });
      expectError(res, 'database_unavailable');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await pool.end();
    }
  });

  test('a statement stuck behind a lock: 503 after the statement timeout, and the order untouched', async () => {
    const pool = createPool({
      connectionString: db.url,
      max: 2,
      logger: silent,
      statementTimeoutMs: 300,
    });
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select * from orders where id = 7 for update');
      const before = await outboxCount();
      const res = await request(appOn(pool))
        .patch('/orders/update')
        .send({ id: 7, status: 'packed' });
      expectError(res, 'database_unavailable');
      expect(res.headers['retry-after']).toBe('1');
      await holder.query('rollback');
      const { rows } = await db.pool.query('select status from orders where id = 7');
      expect(rows[0].status).not.toBe('packed');
      expect(await outboxCount()).toBe(before);
    } finally {
      holder.release();
      await pool.end();
    }
  });
});

describe('the admin API refuses what PostgreSQL would refuse, as a 400', () => {
  const auth = `Bearer ${ADMIN_TOKEN}`;

  test.each([
    ['an id one past bigint', 'get', '/admin/outbox/9223372036854775808', 'id'],
    ['a retry of an id past bigint', 'post', '/admin/outbox/9999999999999999999/retry', 'id'],
    ['a page past bigint', 'get', '/admin/outbox?before=9223372036854775808', 'before'],
    ['a NUL character in a filter', 'get', '/admin/outbox?aggregateId=%00', 'aggregateId'],
    ['a NUL character in the event type', 'get', '/admin/outbox?type=a%00b', 'type'],
  ] as const)('%s', async (_what, method, path, field) => {
    const res = await request(adminApp())[method](path).set('authorization', auth);
    expectError(res, 'validation_error');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ path: field }));
  });

  test('the largest bigint is a valid id (404: no such event)', async () => {
    const res = await request(adminApp())
      .get('/admin/outbox/9223372036854775807')
      .set('authorization', auth);
    expectError(res, 'not_found');
  });

  test.each([
    ['an id as a number past 2^53', '{"fromId": 9223372036854775808, "toId": 1}', 'fromId'],
    ['an id as a string past bigint', '{"fromId": "1", "toId": "9223372036854775808"}', 'toId'],
    [
      'year 0000',
      '{"from": "0000-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", "dryRun": true}',
      'from',
    ],
    [
      'an offset of +16:00',
      '{"from": "2024-01-01T00:00:00Z", "to": "2024-01-01T00:00:00+16:00", "dryRun": true}',
      'to',
    ],
    [
      'February 30th',
      '{"from": "2024-02-30T00:00:00Z", "to": "2024-03-01T00:00:00Z", "dryRun": true}',
      'from',
    ],
  ])('a replay with %s', async (_what, body, field) => {
    const before = await outboxCount();
    const res = await request(adminApp())
      .post('/admin/outbox/replay')
      .set('authorization', auth)
      .set('content-type', 'application/json')
      .send(body);
    expectError(res, 'validation_error');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ path: field }));
    expect(await outboxCount()).toBe(before);
  });

  test('the widest valid time range is a 200', async () => {
    const res = await request(adminApp())
      .post('/admin/outbox/replay')
      .set('authorization', auth)
      .send({ from: '0001-01-01T00:00:00+14:00', to: '9999-12-31T23:59:59-12:00', dryRun: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dryRun: true, replayed: 0 });
  });

  test.each(['bearer', 'BEARER', 'Bearer  ', 'bEaReR'])(
    'the scheme "%s" is the Bearer scheme (case-insensitive)',
    async (scheme) => {
      const res = await request(adminApp())
        .get('/admin/outbox?limit=1')
        .set('authorization', `${scheme} ${ADMIN_TOKEN}`);
      expect(res.status).toBe(200);
    },
  );

  test.each(['Basic', 'Bearertoken', 'Token'])('the scheme "%s" is a 401', async (scheme) => {
    const res = await request(adminApp())
      .get('/admin/outbox?limit=1')
      .set('authorization', `${scheme} ${ADMIN_TOKEN}`);
    expectError(res, 'unauthorized');
  });
});

// ---- live streams: caps and backpressure --------------------------------------------------

/** The JSON body of a refusal, read to the end (a refusal closes its connection). */
async function refusalBody(s: OpenedStream): Promise<{ error: { code: string } }> {
  await s.closed;
  return JSON.parse(s.body);
}

describe('live streams', () => {
  const held: net.Socket[] = [];
  afterEach(() => {
    for (const s of held.splice(0)) s.destroy();
  });

  test('1,000 stream requests from 200 addresses: 100 streams, the rest a JSON 503 that closes its connection; health, readiness and the API still answer', async () => {
    const svc = await startTestService(db.url);
    const port = Number(new URL(svc.url).port);
    const opened = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => openStream(port, `127.0.1.${1 + Math.floor(i / 5)}`)),
    );
    held.push(...opened.map((s) => s.socket));
    const byStatus = (status: number) => opened.filter((s) => s.status === status);
    expect(byStatus(200)).toHaveLength(100);
    expect(byStatus(503)).toHaveLength(900);
    const refused = byStatus(503)[0]!;
    expect(refused.head).toContain('retry-after: 5');
    expect(refused.head).toContain('connection: close');
    expect((await refusalBody(refused)).error.code).toBe('server_busy');

    const quick = { signal: AbortSignal.timeout(2_000) };
    expect((await fetch(`${svc.url}/healthz`, quick)).status).toBe(200);
    expect((await fetch(`${svc.url}/readyz`, quick)).status).toBe(200);
    expect((await fetch(`${svc.url}/orders/3`, quick)).status).toBe(200);
    const patch = await fetch(`${svc.url}/orders/update`, {
      ...quick,
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 3, status: 'packed' }),
    });
    expect(patch.status).toBe(200);

    // A slot freed is a slot taken again.
    byStatus(200)[0]!.socket.destroy();
    await waitFor('a freed stream slot', async () => {
      const again = await openStream(port, '127.0.2.1');
      held.push(again.socket);
      return again.status === 200;
    });
  });

  test('one client address gets LIVE_STREAMS_PER_CLIENT streams, then a JSON 429', async () => {
    const svc = await startTestService(db.url, { env: { LIVE_STREAMS_PER_CLIENT: '3' } });
    const port = Number(new URL(svc.url).port);
    const mine = [];
    for (let i = 0; i < 4; i++) mine.push(await openStream(port, '127.0.3.1'));
    held.push(...mine.map((s) => s.socket));
    expect(mine.map((s) => s.status)).toEqual([200, 200, 200, 429]);
    expect((await refusalBody(mine[3]!)).error.code).toBe('too_many_requests');
    // Another address is another client.
    const other = await openStream(port, '127.0.3.2');
    held.push(other.socket);
    expect(other.status).toBe(200);
  });

  test('a client that stops reading is dropped once its unsent data passes the bound; a reader keeps its stream', async () => {
    const lines: { msg?: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (l: string) => void lines.push(JSON.parse(l)) },
    );
    const svc = await startTestService(db.url, { logger });
    const port = Number(new URL(svc.url).port);
    const stalled = await openStream(port, '127.0.4.1');
    stalled.socket.pause();
    const reader = await openStream(port, '127.0.4.2');
    held.push(stalled.socket, reader.socket);

    // Settled events of 4 KiB each (a long aggregate id), 40 MB in all: more than the kernel's
    // socket buffers hold (a few MB each way on loopback), so the rest waits in the server.
    const dropped = () => lines.some((l) => l.msg?.startsWith('live stream closed'));
    for (let batch = 0; batch < 100 && !dropped(); batch++) {
      for (let i = 0; i < 100; i++) {
        svc.events.emit('settled', {
          id: String(batch * 100 + i),
          type: 'order.status_changed',
          aggregateType: 'order',
          aggregateId: 'x'.repeat(4_000),
          status: 'done',
          attempt: 1,
          durationMs: 1,
          createdAt: new Date(),
          payload: {},
          subscription: 'notify-client',
          error: null,
        });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor('the stalled stream to be dropped', dropped);
    const connections = () =>
      new Promise<number>((r) => svc.server.getConnections((_e, n) => r(n)));
    await waitFor('the server to close its socket', async () => (await connections()) === 1);
    expect(reader.body.length).toBeGreaterThan(1_000_000);
    expect(reader.socket.destroyed).toBe(false);
    expect(lines.filter((l) => l.msg?.startsWith('live stream closed'))).toHaveLength(1);
  });
});

describe('what anonymous readers see', () => {
  let receiver: WebhookReceiver | undefined;
  let own: TestDatabase | undefined;
  let ownService: Service | undefined;
  const held: net.Socket[] = [];
  afterEach(async () => {
    for (const s of held.splice(0)) s.destroy();
    await receiver?.close();
    receiver = undefined;
    await ownService?.stop();
    await own?.drop();
    own = ownService = undefined;
  });

  test("a failing webhook: /metrics and the live stream show its host and a generic error, never its URL's path or query nor the answer; the admin API has the detail", async () => {
    const secrets = ['s3cr3t-path', 'qu3ry-s3cr3t', '/hooks', 'alice@example.com', '10.1.2.3'];
    receiver = await startWebhookReceiver({
      secret: TEST_WEBHOOK_SECRET,
      path: '/hooks/s3cr3t-path?token=qu3ry-s3cr3t',
      // Order 9's event fails every time (parked, retried), order 10's is delivered.
      answer: (_n, body) =>
        body.aggregate.id === '9'
          ? { status: 500, body: 'mailbox alice@example.com is full; relay 10.1.2.3 down' }
          : undefined,
    });
    // A database of its own: the other services of this file would handle its event first.
    own = await createTestDatabase();
    await own.seed();
    const svc = (ownService = await startTestService(own.url, {
      env: {
        WEBHOOK_URLS: receiver.url,
        WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        ADMIN_TOKEN,
      },
    }));
    await own.pool.query(`update orders set status = 'delivered' where id in (9, 10)`);
    const failed = await waitFor('the webhook to fail once', async () => {
      const r = await own!.pool.query<{ event_id: string }>(
        `select event_id from outbox_parked where last_error like '%answered 500%'
          order by event_id desc limit 1`,
      );
      return r.rows[0]?.event_id;
    });
    // A change of a column that is not public (an e-mail address), settled on this instance.
    svc.events.emit('settled', {
      id: '999999',
      type: 'client.changed',
      aggregateType: 'client',
      aggregateId: '1',
      status: 'done',
      attempt: 1,
      durationMs: 1,
      createdAt: new Date(),
      payload: {
        op: 'update',
        new: { email: 'bob@example.com' },
        old: { email: 'alice@example.com' },
      },
      subscription: 'notify-client',
      error: null,
    });

    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const host = new URL(receiver.url).host;
    expect(metrics).toContain(`sink="webhook:${host}"`);
    for (const secret of secrets) expect(metrics).not.toContain(secret);

    const stream = await openStream(Number(new URL(svc.url).port));
    held.push(stream.socket);
    await waitFor('the snapshot', () => stream.body.includes('event: hello'));
    expect(stream.body).toContain('HTTP 500 (the admin API and the log have the details)');
    expect(stream.body).toContain(`"subscription":"webhook:${host}"`);
    expect(stream.body).toContain('email changed');
    for (const secret of secrets) expect(stream.body).not.toContain(secret);

    const detail = await request(svc.url)
      .get(`/admin/outbox/${failed}`)
      .set('authorization', `Bearer ${ADMIN_TOKEN}`);
    const webhook = detail.body.deliveries.find(
      (d: { subscription: string }) => d.subscription === `webhook:${host}`,
    );
    expect(webhook.lastError).toContain('alice@example.com');
  });
});

describe('optional protection of the API (API_TOKEN, RATE_LIMIT_PER_MINUTE)', () => {
  const API_TOKEN = 'hardening-api-token-0123456';

  /** One request from `localAddress` (each 127.x.y.z is another client). */
  function from(
    url: string,
    localAddress: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { ...init, localAddress, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
  }

  test('with API_TOKEN set, PATCH /orders/update needs it (401 and nothing changes); reads stay open', async () => {
    const svc = await startTestService(db.url, { env: { API_TOKEN } });
    const patch = (authorization?: string) =>
      request(svc.url)
        .patch('/orders/update')
        .set(authorization ? { authorization } : {})
        .send({ id: 10, status: 'cancelled' });
    const before = await outboxCount();
    const none = await patch();
    expectError(none, 'unauthorized');
    expect(none.body.error.message).toContain('API_TOKEN');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="orders"');
    expectError(await patch('Bearer not-the-token-at-all'), 'unauthorized');
    expect(await outboxCount()).toBe(before);
    expect((await patch(`bearer ${API_TOKEN}`)).status).toBe(200);
    await request(svc.url).get('/orders/10').expect(200);
  });

  test('RATE_LIMIT_PER_MINUTE: past it a client gets a JSON 429 with Retry-After; other clients and the health checks do not', async () => {
    const svc = await startTestService(db.url, { env: { RATE_LIMIT_PER_MINUTE: '5' } });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push(await from(`${svc.url}/orders/1`, '127.0.7.1'));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = statuses[5]!;
    expect(JSON.parse(limited.body).error.code).toBe('too_many_requests');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers.ratelimit).toMatch(/r=0/);
    expect(limited.headers['ratelimit-policy']).toMatch(/q=5/);
    // The limit is per client, and X-Forwarded-For (TRUST_PROXY unset) does not make another one.
    const spoofed = await from(`${svc.url}/orders/1`, '127.0.7.1', {
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(spoofed.status).toBe(429);
    expect((await from(`${svc.url}/orders/1`, '127.0.7.2')).status).toBe(200);
    for (let i = 0; i < 10; i++) {
      expect((await from(`${svc.url}/healthz`, '127.0.7.1')).status).toBe(200);
    }
  });

  test('TRUST_PROXY=1: the client is the address the proxy names in X-Forwarded-For', async () => {
    const svc = await startTestService(db.url, {
      env: { RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: '1' },
    });
    const via = (client: string) =>
      from(`${svc.url}/orders/1`, '127.0.8.1', { headers: { 'x-forwarded-for': client } });
    expect([(await via('203.0.113.1')).status, (await via('203.0.113.1')).status]).toEqual([
      200, 200,
    ]);
    expect((await via('203.0.113.1')).status).toBe(429);
    expect((await via('203.0.113.2')).status).toBe(200);
  });
});

describe('hostile webhook receivers: replies read up to a bound', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
  });

  /** A receiver that answers `status` and then sends body bytes without end. */
  async function endlessReceiver(status: number): Promise<{ url: string; sent: () => number }> {
    let sent = 0;
    server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'why-');
      const pump = setInterval(() => {
        if (res.destroyed) return clearInterval(pump);
        res.write(chunk);
        sent += chunk.length;
      }, 1);
      res.on('close', () => clearInterval(pump));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    return { url: `http://127.0.0.1:${port}/hook`, sent: () => sent };
  }

  const event = {
    id: '7',
    aggregateType: 'order',
    aggregateId: '1',
    type: 'order.status_changed',
    payload: {},
    createdAt: new Date(),
    attempt: 1,
  } as OutboxEvent;
  const signal = new AbortController().signal;

  test('a 500 whose body never ends fails at once with the status and the start of the body, not at the timeout', async () => {
    const receiver = await endlessReceiver(500);
    const sink = createWebhookSink({
      name: 'endless',
      url: receiver.url,
      secret: TEST_WEBHOOK_SECRET,
      timeoutMs: 5_000,
    });
    const started = Date.now();
    const error = await sink.deliver(event, { signal }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error?.message).toMatch(/answered 500: (why-){50}$/);
  });

  test('a 2xx whose body never ends is a delivery, at once', async () => {
    const receiver = await endlessReceiver(200);
    const sink = createWebhookSink({
      name: 'endless',
      url: receiver.url,
      secret: TEST_WEBHOOK_SECRET,
      timeoutMs: 5_000,
    });
    const started = Date.now();
    await sink.deliver(event, { signal });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The download stopped: the receiver could not push much more than the sockets buffer.
    const atReturn = receiver.sent();
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.sent() - atReturn).toBeLessThan(16 * 1024 * 1024);
  });
});
