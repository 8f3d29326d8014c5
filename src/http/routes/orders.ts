import { Router, type RequestHandler } from 'express';
import type { OrdersService } from '../../orders/orders.service';
import {
  orderIdParams,
  updateOrderStatusBody,
  type UpdateOrderStatusBody,
} from '../../orders/orders.schema';
import { bearerAuth } from '../middleware/bearer-auth';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { requireJson, validate } from '../middleware/validate';

export function ordersRouter({
  orders,
  apiToken,
}: {
  orders: OrdersService;
  /** API_TOKEN: the write route requires it; unset, it is open (the development default). */
  apiToken?: string;
}): Router {
  const router = Router();
  const writeAuth: RequestHandler = apiToken
    ? bearerAuth(apiToken, { realm: 'orders', variable: 'API_TOKEN' })
    : (_req, _res, next) => next();

  router
    .route('/orders/update')
    .patch(writeAuth, requireJson, validate('body', updateOrderStatusBody), async (_req, res) => {
      const body = res.locals.body as UpdateOrderStatusBody;
      res.json(await orders.updateStatus(body));
    })
    .all(methodNotAllowed(['PATCH']));

  router
    .route('/orders/:id')
    .get(validate('params', orderIdParams), async (_req, res) => {
      const { id } = res.locals.params as { id: number };
      res.json(await orders.getOrder(id));
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
