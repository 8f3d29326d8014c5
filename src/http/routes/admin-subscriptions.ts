import { Router } from 'express';
import type { SubscriptionsService } from '../../admin/subscriptions.service';
import {
  createSubscriptionBody,
  forwardBody,
  parkedActionBody,
  rewindBody,
  subscriptionParams,
  type CreateSubscriptionBody,
  type ForwardBody,
  type ParkedActionBody,
  type RewindBody,
} from '../../admin/subscriptions.schema';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { requireJson, validate } from '../middleware/validate';

/**
 * /admin/subscriptions/* and /admin/parked/*: thin handlers, validate -> service -> respond. Mounted
 * by adminRouter, behind its bearer token.
 */
export function adminSubscriptionsRouter({
  subscriptions,
}: {
  subscriptions: SubscriptionsService;
}): Router {
  const router = Router();
  const name = (locals: Record<string, unknown>) => (locals.params as { name: string }).name;

  router
    .route('/subscriptions')
    .get(async (_req, res) => {
      res.json(await subscriptions.list());
    })
    .post(requireJson, validate('body', createSubscriptionBody), async (_req, res) => {
      res.status(201).json(await subscriptions.create(res.locals.body as CreateSubscriptionBody));
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/subscriptions/:name')
    .get(validate('params', subscriptionParams), async (_req, res) => {
      res.json(await subscriptions.get(name(res.locals)));
    })
    .all(methodNotAllowed(['GET']));

  for (const action of ['pause', 'resume'] as const) {
    router
      .route(`/subscriptions/:name/${action}`)
      .post(validate('params', subscriptionParams), async (_req, res) => {
        res.json(await subscriptions[action](name(res.locals)));
      })
      .all(methodNotAllowed(['POST']));
  }

  router
    .route('/subscriptions/:name/rewind')
    .post(
      requireJson,
      validate('params', subscriptionParams),
      validate('body', rewindBody),
      async (_req, res) => {
        res.json(await subscriptions.rewind(name(res.locals), res.locals.body as RewindBody));
      },
    )
    .all(methodNotAllowed(['POST']));

  router
    .route('/subscriptions/:name/forward')
    .post(
      requireJson,
      validate('params', subscriptionParams),
      validate('body', forwardBody),
      async (_req, res) => {
        res.json(await subscriptions.forward(name(res.locals), res.locals.body as ForwardBody));
      },
    )
    .all(methodNotAllowed(['POST']));

  for (const action of ['retry', 'skip'] as const) {
    router
      .route(`/parked/${action}`)
      .post(requireJson, validate('body', parkedActionBody), async (_req, res) => {
        const filter = res.locals.body as ParkedActionBody;
        res.json(
          await (action === 'retry'
            ? subscriptions.retryParked(filter)
            : subscriptions.skipParked(filter)),
        );
      })
      .all(methodNotAllowed(['POST']));
  }

  return router;
}
