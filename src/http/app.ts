import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { AdminService } from '../admin/admin.service';
import type { SubscriptionsService } from '../admin/subscriptions.service';
import type { LiveFeed } from '../observability/live-feed';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { OrdersService } from '../orders/orders.service';
import type { HttpOptions } from './http-options';
import { errorHandler, notFound } from './middleware/errors';
import { httpMetrics } from './middleware/http-metrics';
import { rateLimitPerClient } from './middleware/rate-limit';
import { adminRouter } from './routes/admin';
import { docsRouter } from './routes/docs';
import { healthRouter, type ReadinessCheck } from './routes/health';
import { liveRouter } from './routes/live';
import { metricsRouter } from './routes/metrics';
import { ordersRouter } from './routes/orders';

export interface AppDeps {
  logger: Logger;
  orders: OrdersService;
  readiness: () => Promise<ReadinessCheck>;
  /** GET /metrics, and every request timed. */
  metrics?: Metrics;
  /** GET / (the live page) and GET /events/stream. */
  live?: LiveFeed;
  /** /admin/*; absent (ADMIN_TOKEN unset): every admin path is a 404. */
  admin?: { service: AdminService; token: string; subscriptions?: SubscriptionsService };
  /** Tokens, limits and proxy settings from the configuration (httpOptions(config)). */
  http?: HttpOptions;
}

export const BODY_LIMIT = '16kb';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the Express app; main.ts listens, tests use supertest. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  const opts = deps.http ?? {};
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind proxies, req.ip is the client named in X-Forwarded-For (hop count only: a client could
  // put any address in the header, so only entries the trusted proxies appended count).
  if (opts.trustProxy) app.set('trust proxy', opts.trustProxy);

  if (deps.metrics) app.use(httpMetrics(deps.metrics));
  app.use(
    pinoHttp({
      logger: deps.logger.child({ component: 'http' }),
      // Take the caller's request id when it is sane, so logs line up across services.
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug',
    }),
  );
  // Helmet's defaults (nosniff, frame-ancestors, CSP default-src 'self', ...) on every response,
  // errors included. The pages load their scripts from files: the CSP allows no inline script.
  // Three defaults assume HTTPS and are sent only when the service is told it is behind it:
  // upgrade-insecure-requests makes a browser that reached it over plain HTTP (by any name but
  // localhost) fetch every asset over HTTPS, where nothing answers: a blank page; HSTS would pin
  // that; Cross-Origin-Opener-Policy is ignored over plain HTTP with a console error.
  const https = opts.behindHttps ?? false;
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: https ? [] : null } },
      strictTransportSecurity: https,
      crossOriginOpenerPolicy: https,
    }),
  );
  app.use(express.json({ limit: BODY_LIMIT }));

  // Health checks, metrics and the live page are never rate limited (probes, scrapes, and the
  // streams have caps of their own); the API and the admin API are, when configured.
  const limit = rateLimitPerClient(opts.rateLimitPerMinute);
  app.use(healthRouter(deps));
  app.use('/orders', limit);
  app.use(ordersRouter({ orders: deps.orders, apiToken: opts.apiToken }));
  if (deps.metrics) app.use(metricsRouter({ metrics: deps.metrics }));
  if (deps.live)
    app.use(liveRouter({ live: deps.live, limits: opts.streams, logger: deps.logger }));
  if (deps.admin) {
    app.use('/admin', limit);
    app.use(
      '/admin',
      adminRouter({
        admin: deps.admin.service,
        subscriptions: deps.admin.subscriptions,
        token: deps.admin.token,
      }),
    );
  }
  app.use(
    docsRouter({
      adminEnabled: deps.admin !== undefined,
      apiTokenEnabled: opts.apiToken !== undefined,
      rateLimited: opts.rateLimitPerMinute !== undefined,
    }),
  );

  app.use(notFound);
  app.use(errorHandler(deps.logger.child({ component: 'http' })));
  return app;
}
