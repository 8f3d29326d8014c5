import { Router } from 'express';
import type { Logger } from '../../observability/logger';
import { methodNotAllowed } from '../middleware/method-not-allowed';

export interface ReadinessCheck {
  ready: boolean;
  /** Ready, but a check short of failing says all is not well (lag over its SLO). */
  degraded?: boolean;
  /** `detail` is for operators: it may name hosts, roles or versions, and goes to the log only. */
  checks: Record<string, { ok: boolean; detail?: string; publicDetail?: string }>;
}

/**
 * What anyone may read about a failing check: fixed words, never the check's own detail (a
 * database error names hosts, roles and databases), unless the check gives a `publicDetail` made
 * of words it chose (a sink's public name). Checks not listed here get the generic text.
 */
const PUBLIC_DETAIL: Record<string, string> = {
  database: 'the database does not answer',
  migrations: 'the database schema is older than the code',
  listener: 'not connected',
  lag: "a subscription's oldest owed event is older than OUTBOX_LAG_SLO_MS",
};
const GENERIC_DETAIL = 'failing';

/** The readiness report as /readyz shows it to anyone: each failing check's detail replaced. */
export function publicReadiness(report: ReadinessCheck): ReadinessCheck['checks'] {
  return Object.fromEntries(
    Object.entries(report.checks).map(([name, check]) => [
      name,
      check.ok
        ? { ok: true }
        : { ok: false, detail: check.publicDetail ?? PUBLIC_DETAIL[name] ?? GENERIC_DETAIL },
    ]),
  );
}

/** The private details of the failing checks, logged when they change and once a minute meanwhile. */
function readinessLog(logger: Logger | undefined): (report: ReadinessCheck) => void {
  const EVERY_MS = 60_000;
  let last = '{}';
  let lastAt = 0;
  return (report) => {
    const failing = Object.fromEntries(
      Object.entries(report.checks).filter(([, c]) => !c.ok),
    ) as ReadinessCheck['checks'];
    const key = JSON.stringify(failing);
    const now = Date.now();
    if (key === last && (key === '{}' || now - lastAt < EVERY_MS)) return;
    last = key;
    lastAt = now;
    if (key === '{}') logger?.info('readiness: every check passes again');
    else
      logger?.warn(
        { checks: failing, ready: report.ready },
        'readiness: a check fails (GET /readyz shows only its name)',
      );
  };
}

export function healthRouter({
  readiness,
  logger,
}: {
  readiness: () => Promise<ReadinessCheck>;
  logger?: Logger;
}): Router {
  const router = Router();
  const log = readinessLog(logger?.child({ component: 'readiness' }));
  router
    .route('/healthz')
    .get((_req, res) => {
      res.json({ status: 'ok' });
    })
    .all(methodNotAllowed(['GET']));
  router
    .route('/readyz')
    .get(async (_req, res) => {
      const report = await readiness();
      log(report);
      res.status(report.ready ? 200 : 503).json({
        status: !report.ready ? 'not_ready' : report.degraded ? 'degraded' : 'ready',
        checks: publicReadiness(report),
      });
    })
    .all(methodNotAllowed(['GET']));
  return router;
}
