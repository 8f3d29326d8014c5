import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../observability/logger';
import type { OrdersService } from '../orders/orders.service';
import { errorHandler, notFound } from './middleware/errors';
import { healthRouter, type ReadinessCheck } from './routes/health';
import { ordersRouter } from './routes/orders';

export interface AppDeps {
  logger: Logger;
  orders: OrdersService;
  readiness: () => Promise<ReadinessCheck>;
}

export const BODY_LIMIT = '16kb';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the Express app; main.ts listens, tests use supertest. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

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
  // errors included. An HTML page with inline scripts needs its own CSP (a nonce), not a hole here.
  app.use(helmet());
  app.use(express.json({ limit: BODY_LIMIT }));

  app.use(healthRouter(deps));
  app.use(ordersRouter(deps));

  app.use(notFound);
  app.use(errorHandler(deps.logger.child({ component: 'http' })));
  return app;
}
