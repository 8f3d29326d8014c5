import nodemailer, { type SendMailOptions } from 'nodemailer';
import type pg from 'pg';
import { markNotificationSent, upsertNotification } from '../notifications/notifications.repo';
import type { EventPayload, OutboxEvent } from '../outbox/event-types';
import { PermanentError } from '../outbox/handler';
import type { Sink, SinkFactory } from './sink';

/** What the sink needs of nodemailer: tests may hand in any transport (e.g. one that fails). */
export interface MailTransport {
  sendMail(message: SendMailOptions): Promise<unknown>;
  /** Connects and authenticates (nodemailer's transport.verify()). */
  verify?(): Promise<unknown>;
  close(): void;
}

export interface EmailSinkOptions {
  pool: pg.Pool;
  transport: MailTransport;
  /** MAIL_FROM, e.g. `Outbox Shop <shop@example.com>`. */
  from: string;
}

/** The domain of the sender's address (the right-hand side of a Message-ID must be one). */
export function mailDomain(from: string): string {
  return /@([^\s<>@]+)>?\s*$/.exec(from)?.[1] ?? 'localhost';
}

/** Message-ID of an event's e-mail: the same on every retry, so a receiver can drop a repeat. */
export function messageIdFor(eventId: string, from: string): string {
  return `<outbox-${eventId}@${mailDomain(from)}>`;
}

/**
 * A recipient refused for good (5xx to RCPT TO) will be refused on every retry; anything else
 * (connection, timeout, 4xx, a 5xx elsewhere such as bad credentials) may be fixed by waiting or
 * by an operator, so it is retried.
 */
function classify(err: unknown, to: string): Error {
  const e = err as { code?: string; responseCode?: number; command?: string; message?: string };
  const detail = `SMTP ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${e.message}`;
  if (
    e.code === 'EENVELOPE' &&
    e.command === 'RCPT TO' &&
    (e.responseCode ?? 0) >= 500 &&
    (e.responseCode ?? 0) < 600
  ) {
    return new PermanentError(`recipient ${to} refused: ${detail}`, { cause: err });
  }
  return new Error(`sending to ${to}: ${detail}`, { cause: err });
}

/**
 * E-mails the client of an order whose status changed. It records the notification itself
 * (upsert by event id) rather than waiting for notify-client, whose row is written in the settle
 * transaction, after the external handlers of the same batch. Then it sends, and sets sent_at.
 * A crash between send and sent_at sends again with the same Message-ID (at least once).
 */
export function createEmailSink(opts: EmailSinkOptions): Sink {
  return {
    name: 'email',
    eventTypes: ['order.status_changed'],
    async deliver(event: OutboxEvent, { signal }) {
      const payload = event.payload as EventPayload<'order.status_changed'>;
      const notification = await upsertNotification(opts.pool, {
        eventId: event.id,
        clientId: payload.new.client_id,
        orderId: payload.new.id,
        payload,
      });
      if (!notification) {
        throw new PermanentError(
          `order ${payload.new.id}: client ${payload.new.client_id} does not exist`,
        );
      }
      // Sent by an earlier attempt whose outcome was not recorded (e.g. the settle failed).
      if (notification.sent_at) return;
      signal.throwIfAborted();
      try {
        await opts.transport.sendMail({
          from: opts.from,
          to: { name: notification.client_name, address: notification.client_email },
          subject: notification.subject,
          text: notification.body,
          html: notification.html,
          messageId: messageIdFor(event.id, opts.from),
        });
      } catch (err) {
        throw classify(err, notification.client_email);
      }
      await markNotificationSent(opts.pool, event.id);
    },
    async check() {
      try {
        await opts.transport.verify?.();
      } catch (err) {
        const e = err as { code?: string; message?: string };
        throw new Error(
          `the SMTP server refused or could not be reached: ${e.code ?? ''} ${e.message}`.trim(),
        );
      }
    },
    async close() {
      opts.transport.close();
    },
  };
}

/** Pooled SMTP connections: one handshake per connection, not per e-mail. */
const SMTP_POOL = {
  pool: true,
  maxConnections: 5,
  connectionTimeout: 10_000,
  greetingTimeout: 10_000,
  socketTimeout: 30_000,
} as const;

/** On with SMTP_URL; without it notify-client still records each notification (not sent). */
export const emailSinks: SinkFactory = ({ config, pool }) =>
  config.SMTP_URL
    ? [
        createEmailSink({
          pool,
          transport: nodemailer.createTransport({ url: config.SMTP_URL, ...SMTP_POOL }),
          from: config.MAIL_FROM,
        }),
      ]
    : [];
