// What anonymous readers (the live page and its stream, /metrics) may see of a sink's name, an
// error and a change. The full text stays in the database (last_error, read through the admin API)
// and in the logs.

/**
 * A sink's name as anonymous readers see it. A webhook is named by its host: the path or query of
 * its URL is often the secret itself (Slack's /services/T…/B…/<token>, ?token=…).
 */
export function publicSinkName(name: string): string {
  if (!name.startsWith('webhook:')) return name;
  const [host = ''] = name.slice('webhook:'.length).split(/[/?#]/, 1);
  return `webhook:${host}`;
}

/**
 * Error texts quote what a receiver answered, addresses, and sometimes a customer's e-mail address
 * (an SMTP refusal names the recipient). Anonymous readers get one of these fixed words, picked by
 * patterns whose match is never copied out (only the HTTP status, three digits).
 */
const KINDS: [RegExp, string][] = [
  [/\b(no answer within|timed? ?out|ETIMEDOUT|TimeoutError)\b/i, 'timeout'],
  [/\bECONNREFUSED\b/, 'connection refused'],
  [/\b(ECONNRESET|EPIPE|socket hang up|other side closed)\b/i, 'connection reset'],
  [/\b(ENOTFOUND|EAI_AGAIN)\b/, 'host not found'],
  [/\b(EHOSTUNREACH|ENETUNREACH)\b/, 'host unreachable'],
  [/\b(certificate|self[- ]signed|TLS|SSL)\b/i, 'TLS error'],
];

export function redactPublicError(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const status = /\banswered (\d{3})\b/.exec(text)?.[1];
  const kind = status ? `HTTP ${status}` : KINDS.find(([re]) => re.test(text))?.[1];
  return `${kind ?? 'failed'} (the admin API and the log have the details)`;
}

/** Columns whose old and new values the live page shows; other changed columns only by name. */
const PUBLIC_VALUE_COLUMNS = new Set(['status', 'price', 'price_cents']);

/** "status: paid → shipped" for a public column; "email changed" for any other. */
export function publicColumnChange(column: string, before: unknown, after: unknown): string {
  return PUBLIC_VALUE_COLUMNS.has(column)
    ? `${column}: ${String(before)} → ${String(after)}`
    : `${column} changed`;
}
