import { eventPayloadSchemas } from '../../src/outbox/event-types';
import { startTestService, useSeededDatabase } from '../helpers/service';
import { waitFor } from '../helpers/wait';
import {
  startWebhookReceiver,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../helpers/webhook-receiver';

const db = useSeededDatabase({ seedEvents: false });
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

async function itemEvents() {
  const { rows } = await db.pool.query(
    `select id, aggregate_id, event_type, payload from outbox where aggregate_type = 'item' order by id`,
  );
  return rows;
}

describe('capturing items (migration 0020)', () => {
  test('a price change writes item.price_changed with the new row and the old price', async () => {
    await db.pool.query(`update items set price_cents = 13900 where id = 1`);
    const [event, ...rest] = await itemEvents();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ aggregate_id: '1', event_type: 'item.price_changed' });
    const payload = eventPayloadSchemas['item.price_changed'].parse(event.payload);
    expect(payload.new).toMatchObject({ id: 1, sku: 'KB-01', price_cents: 13900 });
    expect(payload.old.price_cents).toBe(12900);
  });

  test('the column filter: other columns, or the same price, write nothing', async () => {
    await db.pool.query(`update items set name = 'Clicky keyboard' where id = 1`);
    await db.pool.query(`update items set price_cents = price_cents where id = 2`);
    expect(await itemEvents()).toEqual([]);
  });

  test('the sinks take item events like order events: a webhook receives it', async () => {
    receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
    await startTestService(db.url, {
      env: { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: TEST_WEBHOOK_SECRET },
    });
    await db.pool.query(`update items set price_cents = 999 where id = 10`);
    const [call] = await waitFor(
      'the webhook call',
      () => receiver!.accepted.length && receiver!.accepted,
    );
    expect(call!.body).toMatchObject({
      type: 'item.price_changed',
      aggregate: { type: 'item', id: '10' },
      payload: { new: { price_cents: 999 }, old: { price_cents: 900 } },
    });
  });
});
