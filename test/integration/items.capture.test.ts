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

describe('capturing items (migrations 0020, 0047)', () => {
  test('a price change writes item.price_changed with the new row and the old price', async () => {
    await db.pool.query(`update items set price = 139.90 where id = 1`);
    const [event, ...rest] = await itemEvents();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ aggregate_id: '1', event_type: 'item.price_changed' });
    const payload = eventPayloadSchemas['item.price_changed'].parse(event.payload);
    expect(payload.new).toMatchObject({ id: 1, sku: 'KB-01', price: 139.9 });
    expect(payload.old).toMatchObject({ price: 129 });
    // numeric(10,2) as to_jsonb writes it: a JSON number with its scale, not a string.
    const { rows } = await db.pool.query(
      `select jsonb_typeof(payload #> '{new,price}') as type, payload #>> '{new,price}' as text
         from outbox where id = $1`,
      [event.id],
    );
    expect(rows).toEqual([{ type: 'number', text: '139.90' }]);
  });

  test('the column filter: other columns (a description too), or the same price, write nothing', async () => {
    await db.pool.query(
      `update items set name = 'Clicky keyboard', description = 'Loud' where id = 1`,
    );
    await db.pool.query(`update items set price = price where id = 2`);
    expect(await itemEvents()).toEqual([]);
  });

  test('the sinks take item events like order events: a webhook receives it', async () => {
    receiver = await startWebhookReceiver({ secret: TEST_WEBHOOK_SECRET });
    await startTestService(db.url, {
      env: { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: TEST_WEBHOOK_SECRET },
    });
    await db.pool.query(`update items set price = 9.99 where id = 10`);
    const [call] = await waitFor(
      'the webhook call',
      () => receiver!.accepted.length && receiver!.accepted,
    );
    expect(call!.body).toMatchObject({
      type: 'item.price_changed',
      aggregate: { type: 'item', id: '10' },
      payload: { new: { price: 9.99 }, old: { price: 9 } },
    });
  });
});
