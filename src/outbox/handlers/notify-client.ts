import { statusChangedMessage } from '../../notifications/notification-message';
import type { TransactionalHandler } from '../handler';

/**
 * The built-in handler: tells the client of an order that its status changed, by writing a row
 * into `notifications` (one per event: event_id is unique) in the transaction that acks the event.
 */
export const notifyClientHandler: TransactionalHandler<'order.status_changed'> = {
  kind: 'transactional',
  name: 'notify-client',
  eventTypes: ['order.status_changed'],
  async handleBatch(events, tx) {
    const messages = events.map((e) => statusChangedMessage(e.payload));
    await tx.query({
      name: 'notifications.insert_batch',
      text: `insert into notifications (event_id, client_id, order_id, channel, subject, body)
             select * from unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[])
             on conflict (event_id) do nothing`,
      values: [
        events.map((e) => e.id),
        events.map((e) => e.payload.new.client_id),
        events.map((e) => e.payload.new.id),
        events.map(() => 'email'),
        messages.map((m) => m.subject),
        messages.map((m) => m.text),
      ],
    });
  },
};
