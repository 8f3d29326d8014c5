import type { ExternalHandler, SqlHandler } from '../../src/outbox/handler';

/**
 * An SQL handler: one statement over the relation `events` (the events of its chunk). It runs in
 * the transaction that moves its subscription's position: each effect exactly once.
 */
export const clientEmailHistory: SqlHandler<'client.email_changed'> = {
  kind: 'sql',
  name: 'client-email-history',
  eventTypes: ['client.email_changed'],
  effectSql: `insert into client_email_history (event_id, client_id, old_email, new_email, changed_at)
              select e.id, (e.payload #>> '{new,id}')::int, e.payload #>> '{old,email}',
                     e.payload #>> '{new,email}', e.created_at
                from events e
              on conflict (event_id) do nothing`,
};

/**
 * A code handler: anything outside the database (an HTTP call, a message). At least once: send
 * the event id as the idempotency key. Throw to fail (retried with backoff; PermanentError: dead).
 */
export function confirmNewAddress(
  send: (to: string, idempotencyKey: string) => Promise<void>,
): ExternalHandler<'client.email_changed'> {
  return {
    kind: 'external',
    name: 'confirm-new-address',
    eventTypes: ['client.email_changed'],
    async handle(event) {
      const payload = event.payload as { new: { email: string } };
      await send(payload.new.email, event.id);
    },
  };
}
