import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { deliveryOf, waitUntilDelivered } from '../helpers/deliveries';
import { auditNotificationInserts } from '../helpers/effect-audit';
import { startTestService, stopAllServices } from '../helpers/service';
import { startSmtpCatcher, type SmtpCatcher } from '../helpers/smtp-catcher';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

// Migration 0050 takes a database of the per-event outbox (one status per event, per-handler
// state in `deliveries`) to the event log without losing a delivery owed: pending, processing
// and dead events are parked in the subscriptions that still owed them, done ones are not
// delivered again.

const logger = createLogger({ level: 'silent' });
let db: TestDatabase;
let legacyDir: string;
let smtp: SmtpCatcher;
let hooks: WebhookReceiver;

beforeEach(async () => {
  db = await createTestDatabase({ migrated: false });
  legacyDir = await mkdtemp(path.join(os.tmpdir(), 'outbox-legacy-migrations-'));
  for (const file of await readdir(MIGRATIONS_DIR)) {
    if (file < '0050') await cp(path.join(MIGRATIONS_DIR, file), path.join(legacyDir, file));
  }
  smtp = await startSmtpCatcher();
  hooks = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
});
afterEach(async () => {
  await stopAllServices();
  await smtp.close();
  await hooks.close();
  await rm(legacyDir, { recursive: true, force: true });
  await db.drop();
});

test('pending, processing, done and dead events of the per-event outbox: every delivery owed is made, none twice', async () => {
  await migrate(db.pool, logger, legacyDir);
  await db.seed();
  await db.pool.query('delete from outbox'); // the seed's order.created: not what this test counts
  // Four status changes, captured by the old trigger (status pending, no deliveries yet).
  for (const order of [1, 2, 2, 3, 4])
    await db.pool.query(
      `update orders set status = case status when 'cancelled' then 'paid' else 'cancelled' end
        where id = $1`,
      [order],
    );
  const { rows } = await db.pool.query<{ id: string; aggregate_id: string }>(
    'select id, aggregate_id from outbox order by id',
  );
  const [done, pending, pendingBehind, processing, dead] = rows.map((r) => r.id);
  // The webhook as the per-event outbox named it: host and path.
  const hook = `webhook:${new URL(hooks.url).host}${new URL(hooks.url).pathname}`;
  const state = (entries: Record<string, [string, number]>) =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(entries).map(([h, [status, attempts]]) => [
          h,
          {
            status,
            attempts,
            at: '2026-11-29T00:00:00Z',
            ...(status === 'done' ? {} : { error: 'x' }),
          },
        ]),
      ),
    );
  await db.pool.query(
    `update outbox set status = 'done', attempts = 1, processed_at = now(), deliveries = $2
      where id = $1`,
    [done, state({ 'notify-client': ['done', 1], email: ['done', 1], [hook]: ['done', 1] })],
  );
  await db.pool.query(
    `update outbox set status = 'processing', attempts = 2, locked_by = 'gone',
            locked_until = now() + interval '1 minute', last_error = 'email: 451', deliveries = $2
      where id = $1`,
    [
      processing,
      state({ 'notify-client': ['done', 1], email: ['failed', 2], [hook]: ['done', 1] }),
    ],
  );
  await db.pool.query(
    `update outbox set status = 'dead', attempts = 3, last_error = 'refused', deliveries = $2
      where id = $1`,
    [dead, state({ 'notify-client': ['done', 1], [hook]: ['dead', 3] })],
  );

  // Today's schema: the subscriptions the old state names, the owed events parked.
  await migrate(db.pool, logger);
  const { rows: subs } = await db.pool.query(`select name from outbox_subscriptions order by name`);
  expect(subs.map((s) => s.name)).toEqual(['email', 'notify-client', hook]);
  const parked = async () =>
    (
      await db.pool.query(
        `select subscription, event_id, state, attempts, available_at = 'infinity' as waits
           from outbox_parked order by subscription, event_id`,
      )
    ).rows;
  expect(await parked()).toEqual([
    { subscription: 'email', event_id: pending, state: 'retrying', attempts: 0, waits: false },
    { subscription: 'email', event_id: pendingBehind, state: 'retrying', attempts: 0, waits: true },
    { subscription: 'email', event_id: processing, state: 'retrying', attempts: 2, waits: false },
    { subscription: 'email', event_id: dead, state: 'dead', attempts: 0, waits: false },
    {
      subscription: 'notify-client',
      event_id: pending,
      state: 'retrying',
      attempts: 0,
      waits: false,
    },
    {
      subscription: 'notify-client',
      event_id: pendingBehind,
      state: 'retrying',
      attempts: 0,
      waits: true,
    },
    { subscription: hook, event_id: pending, state: 'retrying', attempts: 0, waits: false },
    { subscription: hook, event_id: pendingBehind, state: 'retrying', attempts: 0, waits: true },
    { subscription: hook, event_id: dead, state: 'dead', attempts: 3, waits: false },
  ]);

  // The service of today, with the same sinks: the webhook's subscription takes its new name.
  await auditNotificationInserts(db.pool);
  await startTestService(db.url, {
    env: {
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Shop <shop@shop.example>',
      WEBHOOK_URLS: hooks.url,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    },
  });
  const webhook = `webhook:${new URL(hooks.url).host}`;
  await waitUntilDelivered(db.pool, ['notify-client', 'email', webhook]);

  // Owed and made, each once; done ones not made again; dead ones still dead, for an operator.
  // Inserts into notifications: notify-client's effect, and the e-mail sink's upsert of the row it
  // sends. notify-client owed the two pending events, e-mail those and the processing one.
  const { rows: inserts } = await db.pool.query(
    `select event_id, count(*)::int as n from notification_inserts group by event_id order by event_id`,
  );
  expect(inserts).toEqual([
    { event_id: pending, n: 2 },
    { event_id: pendingBehind, n: 2 },
    { event_id: processing, n: 1 },
  ]);
  expect(smtp.messages.map((m) => m.messageId).sort()).toEqual(
    [pending, pendingBehind, processing].map((id) => `<outbox-${id}@shop.example>`).sort(),
  );
  expect(hooks.accepted.map((a) => a.webhookId)).toEqual([pending, pendingBehind]);
  expect(await deliveryOf(db.pool, dead!, webhook)).toMatchObject({ state: 'dead', attempts: 3 });
  expect(await deliveryOf(db.pool, dead!, 'email')).toMatchObject({ state: 'dead' });
  expect(await deliveryOf(db.pool, done!, webhook)).toMatchObject({ state: 'done' });
  const { rows: renamed } = await db.pool.query(
    `select count(*)::int as n from outbox_subscriptions where name = $1`,
    [hook],
  );
  expect(renamed[0].n).toBe(0);
});
