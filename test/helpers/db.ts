import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { TEMPLATE_DB } from './constants';

export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  /** Runs db/seed into this database. */
  seed(): Promise<void>;
  drop(): Promise<void>;
}

function serverUrl(): string {
  const url = process.env.TEST_SERVER_URL;
  if (!url)
    throw new Error('TEST_SERVER_URL is not set: run the tests through jest (global setup)');
  return url;
}

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template: cheap isolation per test file. */
export async function createTestDatabase(opts: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `outbox_test_${randomBytes(5).toString('hex')}`;
  const template = opts.migrated === false ? 'template0' : TEMPLATE_DB;
  await admin((c) => c.query(`create database ${name} template ${template}`));
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  return {
    url,
    name,
    pool,
    async seed() {
      const sql = await readFile(
        path.resolve(__dirname, '../../db/seed/0001_dev_orders.sql'),
        'utf8',
      );
      await pool.query(sql);
    },
    async drop() {
      // pool.end() resolves before its clients' connections are closed; the terminate below can
      // reach one of them first, and its idle client would then emit an unhandled 'error'.
      pool.on('error', () => undefined);
      await pool.end();
      await admin(async (c) => {
        await c.query(
          `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
          [name],
        );
        await c.query(`drop database if exists ${name}`);
      });
    },
  };
}
