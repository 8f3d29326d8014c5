/** SQLSTATEs that mean "try again later", not "this request is wrong". */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '55P03', // lock_not_available
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
]);

const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

// node-postgres reports these without a code.
const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
  'Client was closed and is not queryable',
];

/**
 * True when the database is unreachable, restarting or overloaded: retry later. Duck-typed rather
 * than `instanceof Error`: socket errors (ECONNREFUSED ...) are made by Node's core, whose Error is
 * another realm's under jest or any vm context, and would otherwise be answered as 500s.
 */
export function isTransientDbError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string') {
    if (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08')) return true;
    if (TRANSIENT_NODE_CODES.has(code)) return true;
  }
  // AggregateError: one per address tried (localhost resolves to ::1 and 127.0.0.1).
  if (Array.isArray(errors)) return errors.some(isTransientDbError);
  return typeof message === 'string' && TRANSIENT_MESSAGES.some((m) => message.includes(m));
}

/** The text of any thrown value, for logs and last_error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
}

/**
 * True when our connection to the database failed or the server is going away: not the fault of
 * the statement or its data. Unlike isTransientDbError, a statement that ran too long
 * (57014) or lost a serialization race (40001, 40P01) is not one: an effect that keeps timing out
 * is the event's problem, to be isolated and counted, not retried for ever.
 */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code } = err as { code?: unknown };
  if (typeof code === 'string' && ['57014', '40001', '40P01', '55P03'].includes(code)) return false;
  return isTransientDbError(err);
}
