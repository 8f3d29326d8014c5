import type { RequestHandler, Response } from 'express';
import type { Metrics } from '../../observability/metrics';

/** Routers without a route pattern of their own (static files) name themselves here. */
export function labelRoute(res: Response, route: string): void {
  res.locals.metricsRoute = route;
}

/**
 * Times every request and records it under its route pattern (`/orders/:id`, not `/orders/7`):
 * a label per raw path would let any client create unbounded series. Paths that matched nothing
 * share one label.
 */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const pattern = req.route?.path as string | undefined;
      const route =
        (res.locals.metricsRoute as string | undefined) ??
        (pattern !== undefined ? `${req.baseUrl}${pattern}` : '(unmatched)');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.observeHttp({ method: req.method, route, status: res.statusCode }, seconds);
    });
    next();
  };
}
