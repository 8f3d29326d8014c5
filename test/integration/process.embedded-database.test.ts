import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startServiceProcess, type ServiceProcess } from '../helpers/process';
import { waitFor } from '../helpers/wait';

let dir: string;
let service: ServiceProcess | undefined;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-embedded-'));
});
afterAll(async () => {
  await service?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

test('npm start on the embedded database: a generated superuser password in the data directory; the service and the printed psql string use a login that is no superuser', async () => {
  const dataDir = path.join(dir, 'data');
  const pgPort = await freePort();
  service = startServiceProcess({
    EMBEDDED_PG_DIR: dataDir,
    EMBEDDED_PG_PORT: String(pgPort),
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  });
  // initdb on a busy 2-core machine takes a while.
  await waitFor('the service to listen', () => service!.output().includes('API listening'), {
    timeoutMs: 90_000,
    intervalMs: 200,
  });

  // The printed string works, for what the quick start does with it.
  const devUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/outbox`;
  expect(service.output()).toContain(`connect with: psql ${devUrl}`);
  await query(devUrl, `update orders set status = 'cancelled' where id = 4`);
  await waitFor('the notification', async () => {
    const rows = await query<{ n: number }>(
      devUrl,
      'select count(*)::int as n from notifications where order_id = 4',
    );
    return rows[0]!.n > 0;
  });

  // That login is not a superuser and may not change the schema or switch the triggers off.
  expect(await query(devUrl, 'select rolsuper from pg_roles where rolname = current_user')).toEqual(
    [{ rolsuper: false }],
  );
  await expect(query(devUrl, 'alter table orders disable trigger all')).rejects.toThrow(
    /must be owner/,
  );
  await expect(query(devUrl, 'drop table outbox')).rejects.toThrow(/must be owner/);

  // The service's own connections are that login too.
  const sessions = await query<{ usename: string }>(
    devUrl,
    `select distinct usename from pg_stat_activity
      where datname = 'outbox' and application_name like 'outbox%'`,
  );
  expect(sessions).toEqual([{ usename: 'postgres' }]);

  // The superuser's password: generated, kept in the data directory for its owner only, logged
  // nowhere, and it is the only way in as a superuser.
  const file = path.join(dataDir, 'outbox-credentials.json');
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  const credentials = JSON.parse(await readFile(file, 'utf8')) as {
    superuser: string;
    password: string;
  };
  expect(credentials.password.length).toBeGreaterThanOrEqual(32);
  expect(service.output()).not.toContain(credentials.password);
  const ownerUrl = `postgres://${credentials.superuser}:${encodeURIComponent(credentials.password)}@127.0.0.1:${pgPort}/outbox`;
  expect(
    await query(ownerUrl, 'select rolsuper from pg_roles where rolname = current_user'),
  ).toEqual([{ rolsuper: true }]);
  await expect(
    query(`postgres://${credentials.superuser}:postgres@127.0.0.1:${pgPort}/outbox`, 'select 1'),
  ).rejects.toThrow(/password authentication failed/);
  // Passwords are checked by SCRAM, not sent in clear text.
  const rules = await query<{ auth_method: string }>(
    ownerUrl,
    `select distinct auth_method from pg_hba_file_rules`,
  );
  expect(rules).toEqual([{ auth_method: 'scram-sha-256' }]);
});
