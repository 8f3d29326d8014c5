import type pg from 'pg';
import { AppError } from '../app-error';
import { findOrderDetails, updateOrderStatus } from './orders.repo';
import type { Order, OrderDetails, UpdateOrderStatusBody } from './orders.schema';

export interface OrdersService {
  updateStatus(input: UpdateOrderStatusBody): Promise<Order>;
  getOrder(id: number): Promise<OrderDetails>;
}

export function createOrdersService({ pool }: { pool: pg.Pool }): OrdersService {
  return {
    async updateStatus({ id, status }) {
      const order = await updateOrderStatus(pool, id, status);
      if (!order) throw AppError.notFound(`order ${id} does not exist`);
      return order;
    },
    async getOrder(id) {
      const order = await findOrderDetails(pool, id);
      if (!order) throw AppError.notFound(`order ${id} does not exist`);
      return order;
    },
  };
}
