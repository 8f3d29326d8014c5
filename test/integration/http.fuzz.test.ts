import http from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ERROR_CODES } from '../../src/app-error';
import { ORDER_STATUSES } from '../../src/orders/orders.schema';
import type { Service } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, stopAllServices } from '../helpers/service';

/** About 20 s on the 2-core CI machine; FUZZ_RUNS=20000 for a longer hunt. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 5000);
/** The admin API's share: about 9 s on the 2-core machine. */
const ADMIN_RUNS = Math.ceil(RUNS / 3);
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';

let db: TestDatabase;
let service: Service;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  service = await startTestService(db.url, { env: { ADMIN_TOKEN } });
});
afterAll(async () => {
  agent.destroy();
  await stopAllServices();
  await db.drop();
});

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

/** Percent-encodes what an HTTP client may not put in a request line, byte by byte. */
const toRequestTarget = (s: string) =>
  s.replace(/[^\x21-\x7e]/gu, (c) =>
    [...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );

const pathArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom('/orders/update', '/orders/1', '/orders/12', '/healthz', '/readyz', '/'),
    fc.constantFrom('/admin/outbox', '/orders', '/orders/', '/ORDERS/UPDATE', '/orders/update/'),
    fc
      .oneof(
        fc.integer().map(String),
        fc.constantFrom('0', '-1', '1.5', '1e3', '2147483648', '99999999999', '%E0%A4%A', '%00'),
        fc.constantFrom('..%2f..%2fetc%2fpasswd', '%', '%zz', '1;drop table orders', '__proto__'),
        fc.string({ unit: 'binary', maxLength: 20 }),
      )
      .map((id) => `/orders/${id}`),
    fc.webPath(),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `/${s}`),
  )
  .chain((path) =>
    fc
      .option(fc.string({ unit: 'binary', maxLength: 30 }), { nil: undefined })
      .map((query) => toRequestTarget(query === undefined ? path : `${path}?${query}`)),
  );

const contentTypeArb = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'application/json;charset="utf-8"',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=nonsense',
    'application/merge-patch+json',
    'application/vnd.api+json',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    '*/*',
    'application/',
    ';;;',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
);

const idArb = fc.oneof(
  fc.integer({ min: 1, max: 12 }),
  fc.integer(),
  fc.double(),
  fc.integer({ min: 1, max: 12 }).map(String),
  fc.constantFrom(2 ** 31, 2 ** 53, -0, 1e308, null, true, [], {}),
);
const statusArb = fc.oneof(
  fc.constantFrom(...ORDER_STATUSES),
  fc.constantFrom('PAID', ' paid', 'paid ', '', 'lost', null, 1),
  fc.string({ maxLength: 12 }),
);
const extraKeyArb = fc.constantFrom('__proto__', 'constructor', 'prototype', 'note', 'id ', 'ID');

/** Bodies near the valid shape (where the interesting rejections are), and anything at all. */
const bodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ id: idArb, status: statusArb }, { requiredKeys: [] })
      .map((b) => JSON.stringify(b)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 12 }), statusArb, extraKeyArb, fc.jsonValue())
      // Written as text: an object literal would turn "__proto__" into a prototype, not a key.
      .map(
        ([id, status, key, value]) =>
          `{"id": ${id}, "status": ${JSON.stringify(status)}, "${key}": ${JSON.stringify(value) ?? 'null'}}`,
      ),
  },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 16_000, max: 40_000 })
      .map((n) => JSON.stringify({ id: 1, status: 'paid', pad: 'x'.repeat(n) })),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const requestArb: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.oneof(
      { weight: 5, arbitrary: fc.constant('PATCH') },
      { weight: 3, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS') },
    ),
    path: fc.oneof(
      { weight: 3, arbitrary: fc.constant('/orders/update') },
      { weight: 2, arbitrary: pathArb },
    ),
    // Mostly JSON, so that most requests get as far as validation and the database.
    contentType: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
      },
      { weight: 3, arbitrary: contentTypeArb },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    encoding: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'GZIP'),
      },
    ),
    compress: fc.boolean(),
    requestId: fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 200 }), { nil: undefined }),
    body: bodyArb,
  })
  .map(({ method, path, contentType, encoding, compress, requestId, body }) => {
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (encoding !== undefined) headers['content-encoding'] = encoding;
    if (requestId !== undefined) headers['x-request-id'] = requestId;
    const payload =
      body !== undefined && encoding?.toLowerCase() === 'gzip' && compress ? gzipSync(body) : body;
    return { method, path, headers, body: payload };
  })
  // Only what a real HTTP client can send: Node refuses control characters in header values.
  .filter(({ headers }) =>
    Object.entries(headers).every(([name, value]) => {
      try {
        http.validateHeaderValue(name, value);
        return true;
      } catch {
        return false;
      }
    }),
  );

function send(
  r: FuzzRequest,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(service.url);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: url.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * Everything a request could change: the orders (status, updated_at) and the outbox's rows; with
 * `subscriptions`, also every subscription's state and position and the parked events (not the
 * lease: a lane renews and takes it on its own). Positions move by themselves while events are
 * delivered: only compared once the dispatcher has caught up and no request writes an event.
 */
async function fingerprint({ subscriptions = false } = {}): Promise<string> {
  const { rows } = await db.pool.query<{ f: string }>(
    `select concat_ws('/',
              (select md5(string_agg(concat_ws(':', id, status, updated_at), ',' order by id)) from orders),
              (select count(*) from outbox), (select max(id) from outbox),
              case when $1 then (select md5(string_agg(concat_ws(':', name, kind, event_types, state, origin,
                                               snapshot, batch_snapshot, batch_cursor),
                                     ',' order by name))
                 from outbox_subscriptions) end,
              case when $1 then (select md5(string_agg(concat_ws(':', subscription, event_id,
                                   state, attempts, available_at), ',' order by subscription, event_id))
                 from outbox_parked) end) as f`,
    [subscriptions],
  );
  return rows[0]!.f;
}

test(`${RUNS} generated requests: never a 5xx, every error in the format, rejected means untouched`, async () => {
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      const before = await fingerprint();
      const res = await send(r);
      expect(res.status).toBeLessThan(500);
      if (res.status < 400) return;
      if (r.method !== 'HEAD') {
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        const { error } = JSON.parse(res.body);
        expect(error).toEqual(
          expect.objectContaining({
            code: expect.any(String),
            message: expect.any(String),
            requestId: expect.any(String),
          }),
        );
        expect(ERROR_CODES[error.code as keyof typeof ERROR_CODES]).toBe(res.status);
      }
      expect(await fingerprint()).toBe(before);
    }),
    { numRuns: RUNS },
  );

  // Still alive, and the listener and database still fine.
  const ready = await send({ method: 'GET', path: '/readyz', headers: {}, body: undefined });
  expect(ready.status).toBe(200);
  expect(JSON.parse(ready.body).status).toBe('ready');
});

// ---- the admin API, with a token configured ------------------------------------------------

/** Ids around what PostgreSQL's bigint and JavaScript's numbers can hold, and junk. */
const adminIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('1', '12', '9223372036854775807', '9223372036854775808', '99999999999999999999'),
  fc.constantFrom('0', '-1', '01', '1.0', '1e3', '0x10', ' 1', '%00', '%20', 'null', '__proto__'),
  fc.bigInt({ min: 0n, max: 2n ** 65n }).map(String),
  fc.string({ unit: 'binary', maxLength: 24 }),
);

/** Times near the edges of what zod and PostgreSQL accept. */
const timeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.constantFrom('Z', '+00:00', '+14:00', '-12:00', '+15:59', '+16:00', '-23:59', 'z', ''),
      fc.constantFrom('', '.1', '.123456', '.1234567890123'),
    )
    .map(([y, m, d, offset, frac]) => {
      const p = (n: number, w = 2) => String(n).padStart(w, '0');
      return `${p(y, 4)}-${p(m)}-${p(d)}T12:00:00${frac}${offset}`;
    }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('infinity', '-infinity', 'epoch', 'now', '2024-01-01', '', null, 0, 1e20),
);

const adminQueryArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom('status', 'type', 'aggregateType', 'aggregateId', 'before', 'limit', 'x'),
      fc.oneof(
        fc.constantFrom('dead', 'done', 'order', '1', '500', '501', '0', '%00', 'a%00b'),
        adminIdArb,
        fc.string({ unit: 'grapheme', maxLength: 220 }).map(encodeURIComponent),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** Replay bodies near the valid shape. Not a dry run only over ranges that hold no event. */
const replayBodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc
    .record(
      {
        fromId: fc.oneof(adminIdArb, fc.bigInt({ min: 0n, max: 2n ** 64n }).map(Number)),
        toId: fc.oneof(adminIdArb, fc.integer()),
        from: timeArb,
        to: timeArb,
        dryRun: fc.oneof(fc.constant(true), fc.constantFrom(false, 'true', 1, null)),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    .map(({ extra, ...b }) => ({
      ...b,
      ...(extra !== undefined ? { [`x${typeof extra}`]: extra } : {}),
    }))
    .filter((b) => b.dryRun !== false || String(b.fromId).length > 7)
    .map((b) => JSON.stringify(b)),
  fc.json(),
  fc.constant(undefined),
);

/** Subscription names in a path: the real one, unknown ones, and junk (percent-encoded or not). */
const subscriptionNameArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'notify-client',
    'nope',
    'webhook:x',
    'webhook%3Ax',
    '%00',
    'a%2Fb',
    '..',
    'x'.repeat(201),
  ),
  fc.string({ unit: 'binary', maxLength: 30 }).map(encodeURIComponent),
);

/**
 * Bodies of the subscription and parked routes, near the valid shapes: a target, a new
 * subscription, a parked filter. A move of the one real subscription is a dry run (a real one
 * would move its position while later requests compare the database).
 */
const operationsBodyArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    fromId: fc.oneof(adminIdArb, fc.bigInt({ min: 0n, max: 2n ** 64n }).map(Number)),
    fromTime: timeArb,
    from: fc.constantFrom('oldest', 'now', 'beginning', '', null, 1),
    dryRun: fc.constantFrom(true, false, 'true', null),
    name: fc.oneof(subscriptionNameArb.map(decodeURIComponent), fc.string({ maxLength: 140 })),
    kind: fc.constantFrom('external', 'sql', 'transactional', 'cron', ''),
    eventTypes: fc.oneof(
      fc.constant(null),
      fc.array(fc.oneof(fc.string({ maxLength: 210 }), fc.constant('a\u0000b')), { maxLength: 3 }),
    ),
    paused: fc.constantFrom(true, false, 'yes'),
    subscription: subscriptionNameArb.map(decodeURIComponent),
    state: fc.constantFrom('dead', 'retrying', 'waiting', 'done'),
    eventId: adminIdArb,
    type: fc.string({ maxLength: 210 }),
    aggregateId: fc.string({ unit: 'binary', maxLength: 20 }),
    to: timeArb,
    limit: fc.constantFrom(0, 1, 10_000, 10_001, 1.5, -1, '5', 2 ** 53),
  },
  { requiredKeys: [] },
);

/** A route of the subscription and parked operations with a body for it. */
const operationsRouteArb: fc.Arbitrary<{ method: string; path: string; body?: string }> = fc.oneof(
  fc.constant({ method: 'GET', path: '/admin/subscriptions' }),
  subscriptionNameArb.map((name) => ({ method: 'GET', path: `/admin/subscriptions/${name}` })),
  fc
    .tuple(subscriptionNameArb, fc.constantFrom('pause', 'resume', 'rewind', 'forward', 'x'))
    .chain(([name, action]) =>
      operationsBodyArb.map((body) => ({
        method: 'POST',
        path: `/admin/subscriptions/${name}/${action}`,
        body: JSON.stringify(name === 'notify-client' ? { ...body, dryRun: true } : body),
      })),
    ),
  fc.tuple(fc.constantFrom('retry', 'skip', 'other'), operationsBodyArb).map(([action, body]) => ({
    method: 'POST',
    path: `/admin/parked/${action}`,
    body: JSON.stringify(body),
  })),
  operationsBodyArb.map((body) => ({
    method: 'POST',
    path: '/admin/subscriptions',
    // Created from now or paused: a new subscription nobody serves changes no position.
    body: JSON.stringify({ ...body, paused: true }),
  })),
  adminIdArb.map((id) => ({ method: 'POST', path: `/admin/outbox/${id}/skip` })),
);

const adminRequestArb: fc.Arbitrary<FuzzRequest> = fc
  .record({
    route: fc.oneof(
      fc.constant({ method: 'POST', path: '/admin/outbox/replay' }),
      adminIdArb.map((id) => ({ method: 'GET', path: `/admin/outbox/${id}` })),
      adminIdArb.map((id) => ({ method: 'POST', path: `/admin/outbox/${id}/retry` })),
      adminQueryArb.map((q) => ({ method: 'GET', path: `/admin/outbox${q}` })),
      fc.constant({ method: 'GET', path: '/admin/stats' }),
      { weight: 4, arbitrary: operationsRouteArb },
      fc
        .tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), pathArb)
        .map(([method, path]) => ({ method, path: `/admin${path}` })),
    ),
    scheme: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('Bearer', 'bearer', 'BEARER') },
      { weight: 1, arbitrary: fc.constantFrom('Basic', 'Token', '', 'Bearer\t') },
    ),
    token: fc.oneof(
      { weight: 8, arbitrary: fc.constant(ADMIN_TOKEN) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) },
    ),
    contentType: fc.oneof(
      { weight: 5, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: contentTypeArb },
    ),
    body: replayBodyArb,
  })
  .map(({ route, scheme, token, contentType, body }) => ({
    method: route.method,
    path: toRequestTarget(route.path),
    headers: { authorization: `${scheme} ${token}`.trim(), 'content-type': contentType },
    body:
      route.method === 'GET'
        ? undefined
        : 'body' in route && route.body !== undefined
          ? route.body
          : body,
  }))
  .filter(({ headers }) =>
    Object.entries(headers).every(([name, value]) => {
      try {
        http.validateHeaderValue(name, value);
        return true;
      } catch {
        return false;
      }
    }),
  );

test(`${ADMIN_RUNS} generated admin requests with a token configured: never a 5xx, every error in the format, rejected means untouched`, async () => {
  // The first test's events delivered: from here on no position moves unless a request moves it.
  await waitUntilDelivered(db.pool, ['notify-client'], 30_000);
  await fc.assert(
    fc.asyncProperty(adminRequestArb, async (r) => {
      const before = await fingerprint({ subscriptions: true });
      const res = await send(r);
      expect(res.status).toBeLessThan(500);
      if (res.status < 400) return;
      const { error } = JSON.parse(res.body);
      expect(error).toEqual(
        expect.objectContaining({
          code: expect.any(String),
          message: expect.any(String),
          requestId: expect.any(String),
        }),
      );
      expect(ERROR_CODES[error.code as keyof typeof ERROR_CODES]).toBe(res.status);
      expect(await fingerprint({ subscriptions: true })).toBe(before);
    }),
    { numRuns: ADMIN_RUNS },
  );
});
