import type pg from 'pg';
import { errorMessage } from '../db/errors';
import type { Logger } from './logger';
import { readOutboxGauges, type OutboxGaugeRow } from '../outbox/sql/stats';

export interface GaugeSnapshot extends OutboxGaugeRow {
  /** When the database was read (ms since the epoch). */
  readAt: number;
}

export interface OutboxGauges {
  /**
   * The latest snapshot, read from the database at most once per ttl whoever asks (scrapes,
   * readiness probes, live pages): concurrent callers share one query. If the database cannot be
   * read, the last good snapshot is returned (undefined before the first one).
   */
  read(): Promise<GaugeSnapshot | undefined>;
}

/** 1 s: fresh enough for a dashboard, and a scrape storm costs at most one query per second. */
export const GAUGE_TTL_MS = 1_000;

export function createOutboxGauges(deps: {
  pool: pg.Pool;
  logger: Logger;
  ttlMs?: number;
}): OutboxGauges {
  const ttlMs = deps.ttlMs ?? GAUGE_TTL_MS;
  const logger = deps.logger.child({ component: 'outbox-gauges' });
  let last: GaugeSnapshot | undefined;
  let inFlight: Promise<GaugeSnapshot | undefined> | undefined;

  async function refresh(): Promise<GaugeSnapshot | undefined> {
    const readAt = Date.now();
    try {
      last = { ...(await readOutboxGauges(deps.pool)), readAt };
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'could not read the outbox gauges; serving the last');
    }
    return last;
  }

  return {
    read() {
      if (last && Date.now() - last.readAt < ttlMs) return Promise.resolve(last);
      inFlight ??= refresh().finally(() => (inFlight = undefined));
      return inFlight;
    },
  };
}
