import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/observability/logger';
import { TEMPLATE_DB } from '../helpers/constants';

declare global {
  var __EMBEDDED_PG__: EmbeddedPostgresHandle | undefined;
  var __EMBEDDED_PG_DIR__: string | undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * One PostgreSQL for the whole run: TEST_DATABASE_URL's server if given, else an embedded one in a
 * temporary directory (fsync off: a crash of the test database loses nothing we care about).
 * A template database is migrated once; each test file clones it (test/helpers/db.ts).
 */
export default async function globalSetup(): Promise<void> {
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  let serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-test-pg-'));
    const embedded = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      port: await freePort(),
      database: 'postgres',
      logger,
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        max_connections: '300',
      },
    });
    globalThis.__EMBEDDED_PG__ = embedded;
    globalThis.__EMBEDDED_PG_DIR__ = dir;
    // The superuser: the tests create and drop databases and roles.
    serverUrl = embedded.ownerUrl;
  }
  process.env.TEST_SERVER_URL = serverUrl;

  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    // Leftovers of an interrupted run on a shared server would block the template's re-creation.
    await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [TEMPLATE_DB],
    );
    await admin.query(`drop database if exists ${TEMPLATE_DB}`);
    await admin.query(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${TEMPLATE_DB}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  try {
    await migrate(pool, logger);
  } finally {
    await pool.end();
  }
}
