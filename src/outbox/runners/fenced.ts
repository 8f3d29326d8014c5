import { LeaseLostError } from '../lanes';
import { isLogError, LOG_ERRORS } from '../sql/log';

/**
 * Runs one round of a subscription; a statement refused because the lease token is no longer
 * current (another instance took the subscription over) becomes a LeaseLostError, on which the
 * lane lets the subscription go. Nothing the round wrote in a transaction of its own committed.
 */
export async function fenced<T>(subscription: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isLogError(err, LOG_ERRORS.leaseLost))
      throw new LeaseLostError(subscription, { cause: err });
    throw err;
  }
}
