// The service with one external handler that kills its own process (SIGKILL, no clean-up) when it
// is given an event of order CRASH_ON_ORDER: a handler that crashes its process every time.
//   DATABASE_URL=... CRASH_ON_ORDER=9 ts-node --transpile-only test/helpers/crashing-service.child.ts
// Prints "ready" once it serves. Other orders' events are recorded in the table crash_calls.
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/observability/logger';
import type { ExternalHandler } from '../../src/outbox/handler';
import { startService } from '../../src/service';

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const logger = createLogger({ level: config.LOG_LEVEL });
  const crashOn = process.env.CRASH_ON_ORDER;
  // eslint-disable-next-line prefer-const
  let service: Awaited<ReturnType<typeof startService>>;
  const crasher: ExternalHandler = {
    kind: 'external',
    name: 'crasher',
    eventTypes: ['order.status_changed'],
    async handle(event) {
      if (event.aggregateId === crashOn) process.kill(process.pid, 'SIGKILL');
      await service.pool.query('insert into crash_calls (event_id, attempt) values ($1, $2)', [
        event.id,
        event.attempt,
      ]);
    },
  };
  service = await startService({
    config,
    databaseUrl: config.DATABASE_URL!,
    logger,
    handlers: [crasher],
    port: 0,
  });
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
