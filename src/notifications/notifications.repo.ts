import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

/** A client notification with the address it goes to. */
export interface NotificationToSend {
  /** The outbox event it was made from (unique). */
  event_id: string;
  subject: string;
  /** Plain text. */
  body: string;
  /** The same message in HTML (not stored). */
  html: string;
  /** Set once the e-mail was handed to the SMTP server. */
  sent_at: Date | null;
  client_name: string;
  client_email: string;
}

/**
 * The notification of one event, recorded if it is not yet (the notify-client handler writes the
 * same row, with the same text, later in the settle transaction; event_id is unique, so whichever
 * comes first wins and the other changes nothing). `do update` rather than `do nothing`, so that
 * the row is returned in both cases. The text is order_status_message()'s (migration 0045), as
 * notify-client's, with its HTML for the e-mail. Undefined when the client does not exist.
 */
export async function upsertNotification(
  db: Db,
  n: { eventId: string; clientId: number; orderId: number; payload: unknown },
): Promise<NotificationToSend | undefined> {
  const { rows } = await db.query<NotificationToSend>({
    name: 'notifications.upsert_for_email',
    text: `with message as (select * from order_status_message($4::jsonb)),
           upserted as (
             insert into notifications (event_id, client_id, order_id, channel, subject, body)
             select $1, $2, $3, 'email', m.subject, m.body from message m
             on conflict (event_id) do update set event_id = excluded.event_id
             returning event_id, client_id, subject, body, sent_at
           )
           select u.event_id, u.subject, u.body, m.html, u.sent_at,
                  c.name as client_name, c.email as client_email
             from upserted u
             cross join message m
             join clients c on c.id = u.client_id`,
    values: [n.eventId, n.clientId, n.orderId, JSON.stringify(n.payload)],
  });
  return rows[0];
}

/** Records that the e-mail of this event went out. */
export async function markNotificationSent(db: Db, eventId: string): Promise<void> {
  await db.query({
    name: 'notifications.mark_sent',
    text: `update notifications set sent_at = now() where event_id = $1 and sent_at is null`,
    values: [eventId],
  });
}
