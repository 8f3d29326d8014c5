import { readFile } from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { createAdminService } from '../../src/admin/admin.service';
import { buildApp } from '../../src/http/app';
import { createLogger } from '../../src/observability/logger';
import { createOrdersService } from '../../src/orders/orders.service';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;
let app: Express;
beforeAll(async () => {
  db = await createTestDatabase();
  app = buildApp({
    logger: createLogger({ level: 'silent' }),
    orders: createOrdersService({ pool: db.pool }),
    readiness: async () => ({ ready: true, checks: {} }),
    admin: { service: createAdminService({ pool: db.pool }), token: 'x'.repeat(16) },
  });
});
afterAll(() => db.drop());

interface ThunderRequest {
  name: string;
  method: string;
  url: string;
}

/** "/admin/outbox/{id}" -> a regex matching "/admin/outbox/1". */
function pathPattern(openApiPath: string): RegExp {
  const source = openApiPath.replace(/\{[^}]+\}/g, '[^/?]+');
  return new RegExp(`^${source}(\\?.*)?$`);
}

describe('OpenAPI', () => {
  test('/openapi.json describes the API from the zod schemas', async () => {
    const res = await request(app).get('/openapi.json').expect(200);
    expect(res.body.openapi).toBe('3.0.3');
    expect(Object.keys(res.body.paths).sort()).toEqual([
      '/',
      '/admin/outbox',
      '/admin/outbox/replay',
      '/admin/outbox/{id}',
      '/admin/outbox/{id}/retry',
      '/admin/outbox/{id}/skip',
      '/admin/parked/retry',
      '/admin/parked/skip',
      '/admin/stats',
      '/admin/subscriptions',
      '/admin/subscriptions/{name}',
      '/admin/subscriptions/{name}/forward',
      '/admin/subscriptions/{name}/pause',
      '/admin/subscriptions/{name}/resume',
      '/admin/subscriptions/{name}/rewind',
      '/docs',
      '/events/stream',
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/orders/update',
      '/orders/{id}',
      '/readyz',
    ]);
    // The request schema is the one that validates: same fields, same enum.
    const body =
      res.body.paths['/orders/update'].patch.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['id', 'status']);
    expect(body.properties.status.enum).toContain('shipped');
    expect(res.body.paths['/admin/stats'].get.security).toEqual([{ adminToken: [] }]);
  });

  test('without ADMIN_TOKEN the document leaves the admin routes out', async () => {
    const bare = buildApp({
      logger: createLogger({ level: 'silent' }),
      orders: createOrdersService({ pool: db.pool }),
      readiness: async () => ({ ready: true, checks: {} }),
    });
    const res = await request(bare).get('/openapi.json').expect(200);
    expect(Object.keys(res.body.paths).some((p) => p.startsWith('/admin'))).toBe(false);
  });

  test('with API_TOKEN and a rate limit, the document says so: the write route takes a bearer token, 429s', async () => {
    const guarded = buildApp({
      logger: createLogger({ level: 'silent' }),
      orders: createOrdersService({ pool: db.pool }),
      readiness: async () => ({ ready: true, checks: {} }),
      http: { apiToken: 'y'.repeat(16), rateLimitPerMinute: 100 },
    });
    const { body } = await request(guarded).get('/openapi.json').expect(200);
    const patch = body.paths['/orders/update'].patch;
    expect(patch.security).toEqual([{ apiToken: [] }]);
    expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(['401', '429']));
    expect(body.components.securitySchemes.apiToken).toMatchObject({ scheme: 'bearer' });
    // Without them, nothing of the kind.
    const open = (await request(app).get('/openapi.json')).body;
    expect(open.paths['/orders/update'].patch.security).toBeUndefined();
    expect(open.paths['/orders/update'].patch.responses['429']).toBeUndefined();
  });

  test('/docs serves Swagger UI with no inline script, and only the assets it needs', async () => {
    const page = await request(app).get('/docs').expect(200);
    // The CSP (script-src 'self') refuses inline scripts: every <script> names its file.
    expect(page.text.match(/<script[^>]*>/g)).toEqual([
      '<script src="/docs/assets/swagger-ui-bundle.js">',
      '<script src="/docs/init.js">',
    ]);
    const init = await request(app).get('/docs/init.js').expect(200);
    expect(init.headers['content-type']).toMatch(/javascript/);
    expect(init.text).toContain("url: '/openapi.json'");
    await request(app)
      .get('/docs/assets/swagger-ui-bundle.js')
      .expect(200)
      .expect('content-type', /javascript/);
    await request(app).get('/docs/assets/swagger-ui.css').expect(200).expect('content-type', /css/);
    // The rest of swagger-ui-dist (sample pages, the petstore initializer) is not served.
    for (const file of [
      'index.html',
      'oauth2-redirect.html',
      'swagger-initializer.js',
      'package.json',
      'swagger-ui-bundle.js.map',
    ]) {
      await request(app).get(`/docs/assets/${file}`).expect(404);
    }
  });

  test('the Thunder Client collection has a request for every route of the document', async () => {
    const doc = (await request(app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const file = path.resolve(__dirname, '../../thunder-tests/thunderclient.json');
    const requests = JSON.parse(await readFile(file, 'utf8')) as ThunderRequest[];
    const missing: string[] = [];
    for (const [route, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) {
        const covered = requests.some(
          (r) =>
            r.method === method.toUpperCase() &&
            pathPattern(route).test(r.url.replace('{{baseUrl}}', '')),
        );
        if (!covered) missing.push(`${method.toUpperCase()} ${route}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
