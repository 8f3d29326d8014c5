import type pg from 'pg';

/**
 * At the shutdown deadline, cancels the statement the transaction is running, so that its locks go
 * and the round can give up (a handler blocked on a lock would otherwise hold them). Returns the
 * function that disarms it.
 */
export function cancelOnAbort(pool: pg.Pool, tx: pg.PoolClient, signal: AbortSignal): () => void {
  const pid = (tx as unknown as { processID?: number }).processID;
  const cancel = () => {
    if (!pid) return;
    pool
      .query({ name: 'outbox.cancel_round', text: 'select pg_cancel_backend($1)', values: [pid] })
      .catch(() => undefined); // best effort: the statement_timeout bounds it anyway
  };
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}
