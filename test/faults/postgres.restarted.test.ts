import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { killAllChildren, startChildService, type ChildService } from '../helpers/child-service';
import { startStoppablePostgres, type StoppablePostgres } from '../helpers/stoppable-postgres';
import { waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts, notificationInserts } from '../helpers/effect-audit';
import { waitFor } from '../helpers/wait';

// Issue 3, 8c: PostgreSQL stopped and started under load. Its own server, not the suite's.

let server: StoppablePostgres;
let pool: pg.Pool;
beforeAll(async () => {
  server = await startStoppablePostgres();
});
afterAll(async () => {
  await pool?.end();
  await server.destroy();
  await killAllChildren();
});

const STATUSES = ['pending', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'];
const ORDERS = [1, 3, 5, 6, 7, 10, 11, 12];

/**
 * One loop per order, each PATCHing its order to the next status, one request at a time; records
 * the status of every 200 in order, and counts every answer by kind.
 */
function apiLoad(service: ChildService) {
  const accepted = new Map<number, string[]>(ORDERS.map((id) => [id, []]));
  const answers = new Map<string, number>();
  let running = true;
  const count = (kind: string) => answers.set(kind, (answers.get(kind) ?? 0) + 1);
  const loops = ORDERS.map(async (id) => {
    for (let n = 1; running; n++) {
      const status = STATUSES[n % STATUSES.length]!;
      try {
        const res = await fetch(`${service.url}/orders/update`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, status }),
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await res.json()) as { error?: { code: string } };
        count(String(res.status));
        if (res.status === 200) accepted.get(id)!.push(status);
        else if (res.status === 503) {
          expect(body.error?.code).toBe('database_unavailable');
          expect(res.headers.get('retry-after')).toBe('1');
          await new Promise((r) => setTimeout(r, 50)); // as a client honouring Retry-After would
        }
      } catch (err) {
        count(
          (err as Error).name === 'TimeoutError' ? 'hang' : `failed: ${(err as Error).message}`,
        );
        if (!service.running) return; // it crashed: the test fails on the count above
        await new Promise((r) => setTimeout(r, 50)); // no busy loop against a closed port
      }
    }
  });
  return {
    accepted,
    answers,
    n: (kind: string) => answers.get(kind) ?? 0,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

test('while PostgreSQL is down the API answers 503; afterwards it recovers by itself and every 200 has its event', async () => {
  const service = await startChildService(server.url, { OUTBOX_LEASE_MS: '2000' });
  pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => undefined); // idle connections die with the server; expected here
  await auditNotificationInserts(pool);
  const seed = await readFile(path.resolve(__dirname, '../../db/seed/0001_dev_orders.sql'), 'utf8');
  await pool.query(seed);
  // Every request must change its order (a 200 then means one event): start from a known status.
  await pool.query(`update orders set status = 'pending' where id = any($1::int[])`, [ORDERS]);

  const load = apiLoad(service);
  try {
    await waitFor('updates to flow', () => load.n('200') >= 40, { timeoutMs: 20_000 });
    await server.stop();
    const okBefore = load.n('200');
    await waitFor('503s while PostgreSQL is down', () => load.n('503') >= 10, {
      timeoutMs: 20_000,
    });
    // Both the dispatcher and the listener saw the outage (they log it at warn).
    await service.waitForLine(/subscription round failed/, 20_000);
    await service.waitForLine(/listener connection lost/, 20_000);
    await server.start();
    await waitFor('updates to flow again', () => load.n('200') >= okBefore + 40, {
      timeoutMs: 30_000,
    });
  } catch (err) {
    const answers = JSON.stringify(Object.fromEntries(load.answers));
    throw new Error(`${(err as Error).message}\nanswers: ${answers}\n${service.output()}`);
  } finally {
    await load.stop();
  }

  // Answers were 200 or 503: never a 500, a hang, or a dropped connection (a crash).
  expect(Object.fromEntries(load.answers)).toEqual({ '200': load.n('200'), '503': load.n('503') });
  expect(service.running).toBe(true);

  // Every 200 has its event, in order: a 503 may also have committed (the answer was lost), so
  // the accepted statuses are a subsequence of the events' statuses.
  const { rows } = await pool.query<{ order_id: number; statuses: string[] }>(
    `select aggregate_id::int as order_id, array_agg(payload->'new'->>'status' order by id) as statuses
       from outbox where event_type = 'order.status_changed' and aggregate_id = any($1::text[])
      group by aggregate_id`,
    [ORDERS.map(String)],
  );
  const events = new Map(rows.map((r) => [r.order_id, r.statuses]));
  const missing = ORDERS.flatMap((id) => {
    const got = events.get(id) ?? [];
    // A 200 that set the status the order already had made no event, by design (that happens
    // when the requests in between failed): count such a repeat once.
    const accepted = load.accepted.get(id)!.filter((s, i, all) => i === 0 || s !== all[i - 1]);
    let i = 0;
    for (const status of got) if (status === accepted[i]) i++;
    return i === accepted.length ? [] : [{ order: id, accepted, events: got }];
  });
  expect(missing).toEqual([]);

  // The dispatcher recovered too: everything gets handled without a restart.
  await waitUntilDelivered(pool, ['notify-client'], 30_000);
  const { rows: counts } = await pool.query(
    `select count(*)::int as events from outbox where event_type = 'order.status_changed'`,
  );
  // Each effect committed once: an audit of every insert into notifications (whose unique
  // event_id would hide a second one).
  expect(await notificationInserts(pool)).toMatchObject({ total: counts[0].events, twice: [] });
  expect(service.running).toBe(true);
});
