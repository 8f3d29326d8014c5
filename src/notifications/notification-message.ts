import type { EventPayload } from '../outbox/event-types';

export interface NotificationMessage {
  subject: string;
  /** Plain text: what notifications.body stores. */
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * What the client is told when an order's status changes. One function for the recorded
 * notification (notify-client) and the e-mail (email sink), so both always say the same.
 */
export function statusChangedMessage(
  payload: EventPayload<'order.status_changed'>,
): NotificationMessage {
  const { id, status, updated_at } = payload.new;
  const from = payload.old.status;
  return {
    subject: `Your order #${id} is now ${status}`,
    text: `Hello,\n\nyour order #${id} went from ${from} to ${status} at ${updated_at}.\n`,
    html:
      `<p>Hello,</p>\n<p>your order <strong>#${escapeHtml(id)}</strong> went from ` +
      `${escapeHtml(from)} to <strong>${escapeHtml(status)}</strong> at ` +
      `${escapeHtml(updated_at)}.</p>\n`,
  };
}
