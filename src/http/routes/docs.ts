import path from 'node:path';
import { Router } from 'express';
import { openApiDocument, type OpenApiOptions } from '../openapi';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { PUBLIC_DIR } from './live';

const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/**
 * The files of swagger-ui-dist that /docs loads, and nothing else: the package also holds sample
 * pages (index.html, oauth2-redirect.html) and an initializer pointing at the petstore.
 */
export const SWAGGER_UI_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js'] as const;

/** GET /openapi.json and GET /docs (Swagger UI, served from node_modules: no build step). */
export function docsRouter(opts: OpenApiOptions): Router {
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
  router
    .route('/docs/init.js')
    .get((_req, res) => res.sendFile(path.join(PUBLIC_DIR, 'docs.js'), { maxAge: '1h' }))
    .all(methodNotAllowed(['GET']));
  for (const file of SWAGGER_UI_ASSETS) {
    router
      .route(`/docs/assets/${file}`)
      .get((_req, res) => res.sendFile(path.join(SWAGGER_UI_DIR, file), { maxAge: '1d' }))
      .all(methodNotAllowed(['GET']));
  }
  return router;
}
