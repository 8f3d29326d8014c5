import { Router } from 'express';
import type { AdminService } from '../../admin/admin.service';
import type { SubscriptionsService } from '../../admin/subscriptions.service';
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
import { adminSubscriptionsRouter } from './admin-subscriptions';

/**
 * /admin/*: mounted only when ADMIN_TOKEN is set (unset, every admin path is a 404 like any
 * unknown path), and every route behind the bearer token.
 */
export function adminRouter({
  admin,
  subscriptions,
  token,
}: {
  admin: AdminService;
  /** /admin/subscriptions/* and /admin/parked/*; absent, those paths are 404s. */
  subscriptions?: SubscriptionsService;
  token: string;
}): Router {
  const router = Router();
  router.use(bearerAuth(token));
  if (subscriptions) router.use(adminSubscriptionsRouter({ subscriptions }));

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

  for (const action of ['retry', 'skip'] as const) {
    router
      .route(`/outbox/:id/${action}`)
      .post(validate('params', outboxIdParams), async (_req, res) => {
        res.json(await admin[action]((res.locals.params as { id: string }).id));
      })
      .all(methodNotAllowed(['POST']));
  }

  router
    .route('/stats')
    .get(async (_req, res) => {
      res.json(await admin.stats());
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
