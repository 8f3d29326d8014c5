import { Router } from 'express';
import type { AdminService } from '../../admin/admin.service';
import {
  listOutboxQuery,
  outboxIdParams,
  replayBody,
  type ListOutboxQuery,
  type ReplayBody,
} from '../../admin/admin.schema';
import { bearerAuth } from '../middleware/bearer-auth';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { requireJson, validate } from '../middleware/validate';

/**
 * /admin/*: mounted only when ADMIN_TOKEN is set (unset, every admin path is a 404 like any
 * unknown path), and every route behind the bearer token.
 */
export function adminRouter({ admin, token }: { admin: AdminService; token: string }): Router {
  const router = Router();
  router.use(bearerAuth(token));

  router
    .route('/outbox')
    .get(validate('query', listOutboxQuery), async (_req, res) => {
      res.json(await admin.list(res.locals.query as ListOutboxQuery));
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/outbox/replay')
    .post(requireJson, validate('body', replayBody), async (_req, res) => {
      res.json(await admin.replay(res.locals.body as ReplayBody));
    })
    .all(methodNotAllowed(['POST']));

  router
    .route('/outbox/:id')
    .get(validate('params', outboxIdParams), async (_req, res) => {
      res.json(await admin.get((res.locals.params as { id: string }).id));
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/outbox/:id/retry')
    .post(validate('params', outboxIdParams), async (_req, res) => {
      res.json(await admin.retry((res.locals.params as { id: string }).id));
    })
    .all(methodNotAllowed(['POST']));

  router
    .route('/stats')
    .get(async (_req, res) => {
      res.json(await admin.stats());
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
