import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../observability/logger';
import { DEVELOPMENT_LOGIN, type EmbeddedPostgresHandle } from './embedded';
import { seed } from './migrate';
import { createPool } from './pool';
import { ensureSchema } from './schema-check';

const GRANT_FILE = path.resolve(__dirname, '../../db/roles/grant-app-role.sql');

/**
 * Gives the development login the application role's rights (db/roles/grant-app-role.sql: read
 * and write the tables, nothing else). Idempotent; run after every migration and db:reset.
 */
export async function grantDevelopmentLogin(owner: Pick<pg.Pool, 'query'>): Promise<void> {
  const sql = (await readFile(GRANT_FILE, 'utf8')).replaceAll(
    ':"app_role"',
    pg.escapeIdentifier(DEVELOPMENT_LOGIN.user),
  );
  await owner.query(sql);
}

/**
 * What `npm start` does to its embedded database before the service connects as the development
 * login: migrate and (when just created) seed as the superuser, then grant.
 */
export async function prepareEmbeddedDatabase(
  embedded: EmbeddedPostgresHandle,
  logger: Logger,
): Promise<void> {
  const pool = createPool({
    connectionString: embedded.ownerUrl,
    max: 1,
    logger,
    applicationName: 'outbox-setup',
  });
  try {
    await ensureSchema(pool, logger.child({ component: 'migrate' }));
    if (embedded.created) await seed(pool, logger.child({ component: 'seed' }));
    if (embedded.url !== embedded.ownerUrl) await grantDevelopmentLogin(pool);
  } finally {
    await pool.end();
  }
}
