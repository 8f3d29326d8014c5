import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createAppRole, type AppRole } from '../helpers/app-role';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { freePort, startServiceProcess, type ServiceProcess } from '../helpers/process';
import { waitFor } from '../helpers/wait';

let db: TestDatabase;
let role: AppRole;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.seed();
  role = await createAppRole(db, { password: `dbpw${randomBytes(8).toString('hex')}` });
});
afterAll(async () => {
  await service?.stop();
  await db.drop();
  await role.drop();
});

/** Kills the service's database connections, as a failover or a DBA would. */
async function terminateConnectionsOf(user: string): Promise<number> {
  const admin = new pg.Client({ connectionString: process.env.TEST_SERVER_URL });
  await admin.connect();
  try {
    const { rowCount } = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where usename = $1',
      [user],
    );
    return rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

test('no secret reaches the logs (at trace level) or a response, errors included', async () => {
  const secrets = {
    databasePassword: role.password,
    adminToken: `admintok${randomBytes(12).toString('hex')}`,
    webhookSecret: `whsec_${randomBytes(24).toString('base64')}`,
    smtpPassword: `smtppw${randomBytes(8).toString('hex')}`,
  };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  service = startServiceProcess({
    DATABASE_URL: role.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'trace',
    ADMIN_TOKEN: secrets.adminToken,
    WEBHOOK_SECRET: secrets.webhookSecret,
    SMTP_URL: `smtp://mailer:${secrets.smtpPassword}@127.0.0.1:2525`,
    OUTBOX_POLL_INTERVAL_MS: '200',
  });
  const running = service;
  const ready = async () => {
    if (running.child.exitCode !== null) throw new Error(`exited:\n${running.output()}`);
    return (await fetch(`${base}/readyz`).catch(() => undefined))?.ok;
  };
  await waitFor('the service to be ready', ready, { timeoutMs: 30_000 });

  const answers: string[] = [];
  async function send(path: string, init: RequestInit = {}): Promise<number> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${secrets.adminToken}`, ...init.headers },
    });
    const headers: string[] = [];
    res.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
    answers.push(headers.join('\n'), await res.text());
    return res.status;
  }
  const json = { 'content-type': 'application/json' };
  expect(
    await send('/orders/update', {
      method: 'PATCH',
      headers: json,
      body: '{"id": 8, "status": "shipped"}',
    }),
  ).toBe(200);
  expect(await send('/orders/update', { method: 'PATCH', headers: json, body: '{"id": 8,' })).toBe(
    400,
  );
  expect(
    await send('/orders/update', {
      method: 'PATCH',
      headers: json,
      body: '{"id": 8, "status": "x", "token": "t"}',
    }),
  ).toBe(400);
  expect(await send('/orders/update', { method: 'DELETE' })).toBe(405);
  expect(await send('/admin/outbox')).toBe(200);
  expect(
    await send('/admin/outbox', {
      headers: { authorization: 'Bearer not-the-admin-token-at-all' },
    }),
  ).toBe(401);
  expect(await send('/orders/999999')).toBe(404);

  // The database drops every connection: pool and listener errors are logged, then it recovers.
  expect(await terminateConnectionsOf(role.name)).toBeGreaterThan(0);
  await waitFor('the service to be ready again', ready, { timeoutMs: 30_000 });
  await waitFor('the event of order 8 to be handled', async () => {
    const { rows } = await db.pool.query('select 1 from notifications where order_id = 8');
    return rows.length > 0;
  });
  expect(await send('/orders/8')).toBe(200);

  const { code } = await running.stop();
  expect(code).toBe(0);
  const logs = running.output();
  // The logs are there and verbose, debug lines included (grepping empty logs proves nothing).
  expect(logs).toContain('request completed');
  expect(logs).toContain('"level":20');
  expect(logs).toContain('listener reconnected');
  const everything = `${logs}\n${answers.join('\n')}`;
  for (const [name, secret] of Object.entries(secrets)) {
    expect({ name, leaked: everything.includes(secret) }).toEqual({ name, leaked: false });
  }
  // The webhook key without its prefix, too.
  expect(everything).not.toContain(secrets.webhookSecret.slice('whsec_'.length));
});
