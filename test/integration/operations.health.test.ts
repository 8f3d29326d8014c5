import { waitUntilDelivered } from '../helpers/deliveries';
import pino from 'pino';
import { scrape } from '../helpers/prometheus';
import { createCallLog, recordingHandler } from '../helpers/recording-handler';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';

// Response bodies are checked by expect(), not by the type checker.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type JsonBody = any;

const db = useSeededDatabase();

async function readyz(baseUrl: string) {
  const res = await fetch(`${baseUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as JsonBody };
}

/** Kills the listener's connection over and over, so that the test can see it down. */
function keepKillingTheListener(name: string): () => Promise<void> {
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      await db.pool.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and application_name = 'outbox-listener'`,
        [name],
      );
      // The listener waits 100 ms before its first reconnect: killing every 100 ms keeps it
      // down often enough for the probe (every 20 ms) to see, without a storm of connections.
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

describe('readiness', () => {
  test('flips to 503 while the listener connection is down, and back once it reconnects', async () => {
    const service = await startTestService(db.url);
    expect(await readyz(service.url)).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { database: { ok: true }, migrations: { ok: true } } },
    });

    const stopKilling = keepKillingTheListener(db.name);
    try {
      const down = await waitFor('/readyz to answer 503', async () => {
        const r = await readyz(service.url);
        return r.status === 503 && r;
      });
      expect(down.body).toMatchObject({
        status: 'not_ready',
        checks: { database: { ok: true }, listener: { ok: false, detail: 'not connected' } },
      });
      await waitFor('outbox_listener_connected to be 0', async () => {
        return (await scrape(service.url)).value('outbox_listener_connected') === 0;
      });
    } finally {
      await stopKilling();
    }

    await waitFor('/readyz to answer 200 again', async () => {
      return (await readyz(service.url)).status === 200;
    });
    expect((await scrape(service.url)).value('outbox_listener_connected')).toBe(1);
  });

  test('reports degraded (still 200) while the lag is over OUTBOX_LAG_SLO_MS', async () => {
    const service = await startTestService(db.url, { env: { OUTBOX_LAG_SLO_MS: '50' } });
    // The seed's events are read first (the lag gauge is cached for a second).
    await waitFor(
      '/readyz to say ready',
      async () => (await readyz(service.url)).body.status === 'ready',
    );
    await service.dispatcher.stop(5_000);
    await db.pool.query(`update orders set status = 'cancelled' where id = 1`);
    const degraded = await waitFor('/readyz to say degraded', async () => {
      const r = await readyz(service.url);
      return r.body.status === 'degraded' && r;
    });
    expect(degraded.status).toBe(200);
    expect(degraded.body.checks.lag).toEqual({
      ok: false,
      detail: "a subscription's oldest owed event is older than OUTBOX_LAG_SLO_MS",
    });
  });

  test('a subscription no instance serves degrades readiness: it lags, visibly, and stays ready', async () => {
    const log = createCallLog();
    // This service serves only `recorder`: the built-in notify-client is served by nobody.
    const service = await startTestService(db.url, {
      env: { OUTBOX_LAG_SLO_MS: '50' },
      handlers: [recordingHandler(log)],
    });
    await db.pool.query(`update orders set status = 'cancelled' where id = 1`);
    await waitUntilDelivered(db.pool, ['recorder']);
    expect(log.calls).toHaveLength(1);
    const degraded = await waitFor('/readyz to say degraded', async () => {
      const r = await readyz(service.url);
      return r.body.status === 'degraded' && r;
    });
    expect(degraded.status).toBe(200);
    expect(degraded.body.checks.lag.ok).toBe(false);
  });

  test('a database that lacks a migration is not ready', async () => {
    const service = await startTestService(db.url);
    await db.pool.query(
      'delete from schema_migrations where version = (select max(version) from schema_migrations)',
    );
    const r = await readyz(service.url);
    expect(r.status).toBe(503);
    expect(r.body.checks.migrations).toEqual({
      ok: false,
      detail: 'the database schema is older than the code',
    });
  });

  test('a database error is not shown to anonymous callers; the log has it', async () => {
    const lines: { msg?: string; checks?: Record<string, { detail?: string }> }[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (l: string) => void lines.push(JSON.parse(l)) },
    );
    const service = await startTestService(db.url, { logger });
    // The readiness query then fails in the database with a message naming our objects.
    await db.pool.query('alter table schema_migrations rename to schema_migrations_hidden');
    try {
      const r = await readyz(service.url);
      expect(r.status).toBe(503);
      expect(r.body.checks.database).toEqual({ ok: false, detail: 'the database does not answer' });
      expect(JSON.stringify(r.body)).not.toMatch(/schema_migrations|relation|42P01/);
      const logged = lines.find((l) => l.msg?.startsWith('readiness: a check fails'));
      expect(logged?.checks?.database?.detail).toMatch(
        /relation "schema_migrations" does not exist/,
      );
    } finally {
      await db.pool.query('alter table schema_migrations_hidden rename to schema_migrations');
    }
  });
});
