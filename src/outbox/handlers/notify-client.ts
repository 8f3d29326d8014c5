import type { SqlHandler } from '../handler';

/**
 * The built-in handler: tells the client of an order that its status changed, by writing a row
 * into `notifications` (one per event: event_id is unique) in the transaction that acks the event.
 * The text is order_status_message()'s (migration 0045), which the e-mail sink sends too.
 */
export const notifyClientHandler: SqlHandler<'order.status_changed'> = {
  kind: 'sql',
  name: 'notify-client',
  eventTypes: ['order.status_changed'],
  effectSql: `insert into notifications (event_id, client_id, order_id, channel, subject, body)
              select e.id, (e.payload #>> '{new,client_id}')::int, (e.payload #>> '{new,id}')::int,
                     'email', m.subject, m.body
                from events e
               cross join lateral order_status_message(e.payload) m
              on conflict (event_id) do nothing`,
};
