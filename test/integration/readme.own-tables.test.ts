import { readFileSync } from 'node:fs';
import path from 'node:path';
import { notifyClientHandler } from '../../src/outbox/handlers/notify-client';
import { clientEmailHistory, confirmNewAddress } from '../../examples/own-table/handlers';
import { waitUntilDelivered } from '../helpers/deliveries';
import { startTestService, useSeededDatabase } from '../helpers/service';

// The README's worked example, "Use it on your own tables", as written: its files are quoted in
// the README whole, and run here.

const root = path.resolve(__dirname, '../..');
const example = (file: string) => readFileSync(path.join(root, 'examples/own-table', file), 'utf8');
const db = useSeededDatabase();

test('the README quotes the worked example as it is in examples/own-table', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  expect(readme).toContain(example('capture-clients.sql'));
  expect(readme).toContain(example('handlers.ts'));
});

test('capture clients with one statement, add an SQL handler and a code handler: both get the change', async () => {
  await db.pool.query(example('capture-clients.sql'));
  const sent: { to: string; key: string }[] = [];
  await startTestService(db.url, {
    handlers: [
      notifyClientHandler,
      clientEmailHistory,
      confirmNewAddress(async (to, key) => {
        sent.push({ to, key });
      }),
    ],
  });
  await db.pool.query(`update clients set email = 'ada@lovelace.example' where id = 1`);
  await db.pool.query(`update clients set name = 'Ada King' where id = 1`); // not the e-mail: no event
  await waitUntilDelivered(db.pool, ['client-email-history', 'confirm-new-address']);
  const { rows } = await db.pool.query(
    'select event_id, client_id, old_email, new_email from client_email_history',
  );
  expect(rows).toEqual([
    {
      event_id: expect.any(String),
      client_id: 1,
      old_email: 'ada@example.com',
      new_email: 'ada@lovelace.example',
    },
  ]);
  expect(sent).toEqual([{ to: 'ada@lovelace.example', key: rows[0].event_id }]);
});
