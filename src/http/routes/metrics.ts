import { Router } from 'express';
import type { Metrics } from '../../observability/metrics';
import { methodNotAllowed } from '../middleware/method-not-allowed';

/** GET /metrics: the Prometheus text exposition format. */
export function metricsRouter({ metrics }: { metrics: Metrics }): Router {
  const router = Router();
  router
    .route('/metrics')
    .get(async (_req, res) => {
      const body = await metrics.registry.metrics();
      res.setHeader('content-type', metrics.registry.contentType);
      res.send(body);
    })
    .all(methodNotAllowed(['GET']));
  return router;
}
