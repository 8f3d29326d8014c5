import { ConfigError, loadConfig, type Config } from './config/env';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './db/embedded';
import { prepareEmbeddedDatabase } from './db/embedded-setup';
import { createLogger, redactUrl, type Logger } from './observability/logger';
import { startService, type Service } from './service';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });

  let embedded: EmbeddedPostgresHandle | undefined;
  let service: Service | undefined;
  let shuttingDown = false;

  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    // Last resort if something hangs past the deadline; unref'd so it never holds the process.
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.OUTBOX_SHUTDOWN_MS + 5_000).unref();
    try {
      await service?.stop();
      await embedded?.stop();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres({
        dataDir: config.EMBEDDED_PG_DIR,
        port: config.EMBEDDED_PG_PORT,
        database: 'outbox',
        logger,
      });
      // Migrated and seeded (only when just created) as its superuser; the service then runs as
      // the development login, which has the application's rights and no more.
      await prepareEmbeddedDatabase(embedded, logger);
      databaseUrl = embedded.url;
    }
    service = await startService({ config, databaseUrl, logger });
    logStartup(logger, service, databaseUrl, embedded);
  } catch (err) {
    logger.fatal({ err }, 'could not start');
    await service?.stop().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    process.exit(1);
  }
}

function logStartup(
  logger: Logger,
  service: Service,
  databaseUrl: string,
  embedded: EmbeddedPostgresHandle | undefined,
): void {
  logger.info({ url: service.url }, `API listening on ${service.url}`);
  if (embedded) {
    // The development login's password is the documented default, not a secret: the login may
    // only read and write the application's tables. The superuser's password is never logged.
    logger.info(`connect with: psql ${databaseUrl}`);
    if (embedded.url !== embedded.ownerUrl) {
      logger.info(
        `the superuser's password (schema changes, db:reset) is in ${embedded.credentialsFile}`,
      );
    }
  } else {
    logger.info({ database: redactUrl(databaseUrl) }, 'using DATABASE_URL');
  }
  logger.info(
    `try: curl -X PATCH ${service.url}/orders/update -H 'content-type: application/json' -d '{"id":1,"status":"shipped"}'`,
  );
}

void main();
