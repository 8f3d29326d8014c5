import { Router } from 'express';
import type { OrdersService } from '../../orders/orders.service';
import {
  orderIdParams,
  updateOrderStatusBody,
  type UpdateOrderStatusBody,
} from '../../orders/orders.schema';
import { methodNotAllowed } from '../middleware/method-not-allowed';
import { requireJson, validate } from '../middleware/validate';

export function ordersRouter({ orders }: { orders: OrdersService }): Router {
  const router = Router();

  router
    .route('/orders/update')
    .patch(requireJson, validate('body', updateOrderStatusBody), async (_req, res) => {
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
