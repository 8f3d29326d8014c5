import path from 'node:path';
import express, { Router } from 'express';
import { openApiDocument } from '../openapi';
import { labelRoute } from '../middleware/http-metrics';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { PUBLIC_DIR } from './live';

const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** GET /openapi.json and GET /docs (Swagger UI, served from node_modules: no build step). */
export function docsRouter(opts: { adminEnabled: boolean }): Router {
  const router = Router();
  // Built once: the document only changes with the code.
  const document = openApiDocument(opts);
  router
    .route('/openapi.json')
    .get((_req, res) => res.json(document))
    .all(methodNotAllowed(['GET']));
  router
    .route('/docs')
    .get((_req, res) => res.sendFile(path.join(PUBLIC_DIR, 'docs.html')))
    .all(methodNotAllowed(['GET']));
  router.use('/docs/assets', (_req, res, next) => (labelRoute(res, '/docs/assets/*'), next()));
  router.use('/docs/assets', express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1d' }));
  return router;
}
