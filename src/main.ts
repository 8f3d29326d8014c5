import { ConfigError, loadConfig, type Config } from './config/env';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './db/embedded';
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
      databaseUrl = embedded.url;
    }
    service = await startService({
      config,
      databaseUrl,
      logger,
      // Only the embedded development database is seeded, and only when it was just created.
      seed: embedded?.created ?? false,
    });
    logStartup(logger, service, databaseUrl, embedded !== undefined);
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
  embedded: boolean,
): void {
  logger.info({ url: service.url }, `API listening on ${service.url}`);
  if (embedded) {
    // The embedded database's password is the documented development default, not a secret.
    logger.info(`connect with: psql ${databaseUrl}`);
  } else {
    logger.info({ database: redactUrl(databaseUrl) }, 'using DATABASE_URL');
  }
  logger.info(
    `try: curl -X PATCH ${service.url}/orders/update -H 'content-type: application/json' -d '{"id":1,"status":"shipped"}'`,
  );
}

void main();
