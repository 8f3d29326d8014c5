import { Router } from 'express';
import { methodNotAllowed } from '../middleware/method-not-allowed';

export interface ReadinessCheck {
  ready: boolean;
  /** Ready, but a check short of failing says all is not well (lag over its SLO). */
  degraded?: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export function healthRouter({ readiness }: { readiness: () => Promise<ReadinessCheck> }): Router {
  const router = Router();
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
      res.status(report.ready ? 200 : 503).json({
        status: !report.ready ? 'not_ready' : report.degraded ? 'degraded' : 'ready',
        checks: report.checks,
      });
    })
    .all(methodNotAllowed(['GET']));
  return router;
}
