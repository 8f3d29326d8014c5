// npm run db:init  -> migrate + seed (idempotent)
// npm run db:reset -> drop everything, migrate, seed
// Uses DATABASE_URL, or the embedded PostgreSQL of `npm start` (started for the duration if needed).
import pg from 'pg';
import { loadConfig } from '../src/config/env';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded';
import { grantDevelopmentLogin } from '../src/db/embedded-setup';
import { migrate, seed } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { createLogger, redactUrl } from '../src/observability/logger';

async function resetSchema(pool: pg.Pool): Promise<void> {
  await pool.query('drop schema public cascade');
  await pool.query('create schema public');
}

async function main(): Promise<void> {
  const command = process.argv[2];
  if (command !== 'init' && command !== 'reset') {
    console.error('usage: ts-node scripts/db.ts init|reset');
    process.exit(2);
  }
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: true });
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = config.DATABASE_URL;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.EMBEDDED_PG_DIR,
      port: config.EMBEDDED_PG_PORT,
      database: 'outbox',
      logger,
    });
    // Its superuser: dropping and creating the schema needs the owner.
    url = embedded.ownerUrl;
  }
  const pool = createPool({
    connectionString: url,
    max: 2,
    logger,
    applicationName: 'outbox-db-script',
  });
  try {
    if (command === 'reset') {
      logger.warn({ database: redactUrl(url) }, 'dropping every table of schema public');
      await resetSchema(pool);
    }
    await migrate(pool, logger);
    await seed(pool, logger);
    // The development login's rights went with a dropped schema, and a migration may add tables.
    if (embedded && embedded.url !== embedded.ownerUrl) await grantDevelopmentLogin(pool);
    logger.info({ database: redactUrl(url) }, `db:${command} done`);
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
