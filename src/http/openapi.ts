import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  listOutboxQuery,
  outboxIdParams,
  outboxPage,
  outboxRowDetail,
  outboxStats,
  replayBody,
  replayResult,
} from '../admin/admin.schema';
import {
  createSubscriptionBody,
  forwardBody,
  moveResult,
  parkedActionBody,
  parkedActionResult,
  rewindBody,
  subscriptionDetail,
  subscriptionList,
  subscriptionParams,
} from '../admin/subscriptions.schema';
import { ERROR_CODES } from '../app-error';
import { orderIdParams, orderStatusSchema, updateOrderStatusBody } from '../orders/orders.schema';

// Response shapes of routes whose code returns plain TypeScript types; they describe, never validate.
const order = z.object({
  id: z.number().int(),
  clientId: z.number().int(),
  status: orderStatusSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
});
const orderDetails = order.extend({
  client: z.object({ id: z.number().int(), name: z.string(), email: z.string() }),
  items: z.array(
    z.object({
      itemId: z.number().int(),
      sku: z.string(),
      name: z.string(),
      description: z.string().nullable(),
      quantity: z.number().int(),
      price: z.number().describe('a decimal amount with two places (numeric(10,2))'),
    }),
  ),
  total: z.number().describe('the sum of quantity × price'),
});
const errorBody = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string(),
  }),
});
const readiness = z.object({
  status: z.enum(['ready', 'degraded', 'not_ready']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});

const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string) => json(errorBody, description);
const text = (type: string, description: string) => ({
  description,
  content: { [type]: { schema: z.string() } },
});

export interface OpenApiOptions {
  adminEnabled: boolean;
  /** API_TOKEN is set: PATCH /orders/update takes a bearer token. */
  apiTokenEnabled?: boolean;
  /** RATE_LIMIT_PER_MINUTE is set: /orders/* and /admin/* may answer 429. */
  rateLimited?: boolean;
}

/** The API as an OpenAPI 3.0 document, built from the same zod schemas that validate requests. */
export function openApiDocument(opts: OpenApiOptions) {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_TOKEN; with ADMIN_TOKEN unset every /admin route answers 404',
  });
  const adminSecurity = [{ [bearer.name]: [] }];
  type Responses = Record<number, ReturnType<typeof error>>;
  const limited: Responses = opts.rateLimited
    ? { 429: error('more requests than RATE_LIMIT_PER_MINUTE from this client (Retry-After)') }
    : {};
  const adminErrors = {
    400: error('invalid request'),
    401: error('no or wrong bearer token'),
    404: error('no such event, or the admin API is off'),
    ...limited,
  };
  const write = opts.apiTokenEnabled
    ? {
        security: [
          {
            [registry.registerComponent('securitySchemes', 'apiToken', {
              type: 'http',
              scheme: 'bearer',
              description: 'API_TOKEN; with API_TOKEN unset the write route is open',
            }).name]: [],
          },
        ],
        errors: { 401: error('no or wrong bearer token (API_TOKEN)') } as Responses,
      }
    : { security: undefined, errors: {} as Responses };

  registry.registerPath({
    method: 'patch',
    path: '/orders/update',
    tags: ['orders'],
    summary: 'Change the status of an order (the trigger writes an outbox event)',
    ...(write.security ? { security: write.security } : {}),
    request: { body: { content: { 'application/json': { schema: updateOrderStatusBody } } } },
    responses: {
      200: json(order, 'the order; the same status again writes no event'),
      400: error('invalid body'),
      ...write.errors,
      404: error('no such order'),
      415: error('not JSON'),
      ...limited,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/orders/{id}',
    tags: ['orders'],
    summary: 'An order with its client and items',
    request: { params: orderIdParams },
    responses: { 200: json(orderDetails, 'the order'), 404: error('no such order'), ...limited },
  });
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    tags: ['operations'],
    summary: 'The process answers',
    responses: { 200: json(z.object({ status: z.literal('ok') }), 'up') },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    tags: ['operations'],
    summary: 'Database reachable, migrations applied, listener connected (and lag within the SLO)',
    responses: {
      200: json(readiness, 'ready, or degraded (lag over OUTBOX_LAG_SLO_MS)'),
      503: json(readiness, 'not ready: the failing check says why'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: text('text/plain', 'metrics') },
  });
  registry.registerPath({
    method: 'get',
    path: '/events/stream',
    tags: ['operations'],
    summary: 'Server-Sent Events: hello (snapshot), settled (each event), stats (every second)',
    responses: {
      200: text('text/event-stream', 'an endless stream'),
      429: error('this client has LIVE_STREAMS_PER_CLIENT streams open (Retry-After)'),
      503: error('LIVE_STREAMS_MAX streams are open (Retry-After)'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/',
    tags: ['operations'],
    summary: 'The live page',
    responses: { 200: text('text/html', 'the page') },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['operations'],
    summary: 'This document',
    responses: { 200: json(z.object({}).loose(), 'OpenAPI 3.0') },
  });
  registry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['operations'],
    summary: 'This document, readable (Swagger UI)',
    responses: { 200: text('text/html', 'the page') },
  });

  if (opts.adminEnabled) {
    registry.registerPath({
      method: 'get',
      path: '/admin/outbox',
      tags: ['admin'],
      summary: 'Outbox events, newest first, filtered and paged by id',
      security: adminSecurity,
      request: { query: listOutboxQuery },
      responses: { 200: json(outboxPage, 'one page'), ...adminErrors },
    });
    registry.registerPath({
      method: 'get',
      path: '/admin/outbox/{id}',
      tags: ['admin'],
      summary: 'One event with its payload and its state in every subscription',
      security: adminSecurity,
      request: { params: outboxIdParams },
      responses: { 200: json(outboxRowDetail, 'the event'), ...adminErrors },
    });
    registry.registerPath({
      method: 'post',
      path: '/admin/outbox/{id}/retry',
      tags: ['admin'],
      summary: 'Retry the dead deliveries of an event: tries reset, due now',
      security: adminSecurity,
      request: { params: outboxIdParams },
      responses: {
        200: json(outboxRowDetail, 'the event, its dead deliveries back in line'),
        ...adminErrors,
        409: error('the event is dead in no subscription'),
      },
    });
    registry.registerPath({
      method: 'post',
      path: '/admin/outbox/replay',
      tags: ['admin'],
      summary: 'Append copies of the events of an id or time range as new events',
      security: adminSecurity,
      request: { body: { content: { 'application/json': { schema: replayBody } } } },
      responses: { 200: json(replayResult, 'what was (or would be) replayed'), ...adminErrors },
    });
    registry.registerPath({
      method: 'post',
      path: '/admin/outbox/{id}/skip',
      tags: ['admin'],
      summary: 'Give up the parked deliveries of an event (dead or retrying) in every subscription',
      security: adminSecurity,
      request: { params: outboxIdParams },
      responses: {
        200: json(outboxRowDetail, 'the event; the next event of its aggregate becomes due'),
        ...adminErrors,
        409: error('the event is parked in no subscription'),
      },
    });
    registry.registerPath({
      method: 'get',
      path: '/admin/subscriptions',
      tags: ['admin'],
      summary:
        'Every subscription: kind, state, holder, position, lag (events and seconds), parked counts, throughput',
      security: adminSecurity,
      responses: { 200: json(subscriptionList, 'the subscriptions'), ...adminErrors },
    });
    registry.registerPath({
      method: 'post',
      path: '/admin/subscriptions',
      tags: ['admin'],
      summary:
        'Create a subscription before an instance serves it: from now, a time, an event or the oldest retained (a backfill)',
      security: adminSecurity,
      request: { body: { content: { 'application/json': { schema: createSubscriptionBody } } } },
      responses: {
        201: json(subscriptionDetail, 'the subscription'),
        ...adminErrors,
        409: error('a subscription of that name exists'),
        415: error('not JSON'),
      },
    });
    registry.registerPath({
      method: 'get',
      path: '/admin/subscriptions/{name}',
      tags: ['admin'],
      summary: 'One subscription',
      security: adminSecurity,
      request: { params: subscriptionParams },
      responses: { 200: json(subscriptionDetail, 'the subscription'), ...adminErrors },
    });
    for (const [action, summary] of [
      ['pause', 'Pause: its holder stops reading at once; it keeps its position and loses nothing'],
      ['resume', 'Resume (also ends a whole-subscription back-off): it reads from where it was'],
    ] as const) {
      registry.registerPath({
        method: 'post',
        path: `/admin/subscriptions/{name}/${action}`,
        tags: ['admin'],
        summary,
        security: adminSecurity,
        request: { params: subscriptionParams },
        responses: { 200: json(subscriptionDetail, 'the subscription'), ...adminErrors },
      });
    }
    registry.registerPath({
      method: 'post',
      path: '/admin/subscriptions/{name}/rewind',
      tags: ['admin'],
      summary:
        'Deliver again from an event, a time or the oldest retained (by id); never skips what it still owes',
      security: adminSecurity,
      request: {
        params: subscriptionParams,
        body: { content: { 'application/json': { schema: rewindBody } } },
      },
      responses: {
        200: json(moveResult, 'what it delivers again (or would, on a dry run)'),
        ...adminErrors,
        409: error('refused: no event there, or it owes too much before the target'),
        415: error('not JSON'),
      },
    });
    registry.registerPath({
      method: 'post',
      path: '/admin/subscriptions/{name}/forward',
      tags: ['admin'],
      summary:
        'Skip what it owes before an event, a time, or everything committed now; never delivers again',
      security: adminSecurity,
      request: {
        params: subscriptionParams,
        body: { content: { 'application/json': { schema: forwardBody } } },
      },
      responses: {
        200: json(moveResult, 'what it skips (or would, on a dry run)'),
        ...adminErrors,
        409: error('refused: its open batch has delivered past the target'),
        415: error('not JSON'),
      },
    });
    for (const [action, summary] of [
      [
        'retry',
        'Retry parked events by filter: dead ones again, retrying ones now; in order per aggregate',
      ],
      ['skip', 'Skip parked events by filter: given up; the next of each aggregate becomes due'],
    ] as const) {
      registry.registerPath({
        method: 'post',
        path: `/admin/parked/${action}`,
        tags: ['admin'],
        summary,
        security: adminSecurity,
        request: { body: { content: { 'application/json': { schema: parkedActionBody } } } },
        responses: {
          200: json(parkedActionResult, 'what matched and what was done (nothing on a dry run)'),
          ...adminErrors,
          415: error('not JSON'),
        },
      });
    }
    registry.registerPath({
      method: 'get',
      path: '/admin/stats',
      tags: ['admin'],
      summary:
        'Every subscription with its lag and parked counts; events captured in the last minute',
      security: adminSecurity,
      responses: { 200: json(outboxStats, 'the stats'), ...adminErrors },
    });
  }

  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'pg-trigger-outbox',
      version: '0.1.0',
      description:
        'A PostgreSQL trigger turns every order change into an outbox event; the service handles it.',
    },
  });
}
