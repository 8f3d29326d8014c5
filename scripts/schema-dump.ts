// npm run db:schema           -> writes db/schema.sql: the schema after every migration
// npm run db:schema -- --check -> exits 1 when db/schema.sql is not that schema
//
// Migrates a scratch database on an embedded PostgreSQL (the tests' own, so the text is the one
// test/integration/schema.file.test.ts compares with) and dumps it with scripts/schema/dump.ts,
// which needs no pg_dump. SCHEMA_DUMP_SERVER_URL=postgres://... uses that server instead.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/observability/logger';
import { freePort } from '../test/helpers/process';
import { dumpSchema } from './schema/dump';

export const SCHEMA_FILE = path.resolve(__dirname, '../db/schema.sql');
const SCRATCH_DB = 'outbox_schema_dump';

async function withServer<T>(fn: (serverUrl: string) => Promise<T>): Promise<T> {
  const given = process.env.SCHEMA_DUMP_SERVER_URL;
  if (given) return fn(given);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-schema-pg-'));
  let embedded: EmbeddedPostgresHandle | undefined;
  try {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      port: await freePort(),
      database: 'postgres',
      // 'error': as root it warns that it lets the postgres user reach the directory.
      logger: createLogger({ level: 'error' }),
      settings: { fsync: 'off' },
    });
    return await fn(embedded.ownerUrl);
  } finally {
    await embedded?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const text = await withServer(async (serverUrl) => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${SCRATCH_DB}`);
      await admin.query(`create database ${SCRATCH_DB} template template0`);
      const url = new URL(serverUrl);
      url.pathname = `/${SCRATCH_DB}`;
      const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
      try {
        await migrate(pool, createLogger({ level: 'warn' }));
        const client = await pool.connect();
        try {
          return await dumpSchema(client);
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
    } finally {
      await admin.query(`drop database if exists ${SCRATCH_DB}`).catch(() => undefined);
      await admin.end();
    }
  });
  if (!check) {
    await writeFile(SCHEMA_FILE, text);
    console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
    return;
  }
  const committed = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
  if (committed !== text) {
    console.error('db/schema.sql is not the schema the migrations make: run npm run db:schema');
    process.exit(1);
  }
  console.log('db/schema.sql is up to date');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
