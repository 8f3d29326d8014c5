import { z } from 'zod';

/**
 * An event's state in one subscription (the view outbox_delivery): not reached yet (or waiting
 * behind a parked event of its aggregate), done, parked to be retried, or dead.
 */
export const DELIVERY_STATES = ['pending', 'done', 'retrying', 'dead'] as const;
/** What the list can filter on: events parked somewhere, to be retried, or dead. */
export const PARKED_STATES = ['retrying', 'dead'] as const;

/** PostgreSQL's bigint: an id past it would fail in the database (a 500), not in validation. */
export const MAX_BIGINT = 9_223_372_036_854_775_807n;

/**
 * An outbox id: a bigint, as a string in JSON (it may exceed 2^53); a number is accepted too (zod's
 * int() takes safe integers only: a larger number lost its last digits in JSON.parse).
 */
export const outboxId = z
  .union([
    z
      .string()
      .regex(/^[1-9][0-9]{0,18}$/, 'must be a positive integer')
      // zod runs this check after a failed regex too: BigInt('x') would throw (a 500).
      .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= MAX_BIGINT, `must be at most ${MAX_BIGINT}`),
    z.number().int().positive(),
  ])
  .transform(String);

/** Text compared with a column: PostgreSQL refuses the NUL character in text (a 500, not a 400). */
export const text = z
  .string()
  .min(1)
  .max(200)
  .refine((v) => !v.includes('\0'), 'must not contain the NUL character');

/**
 * An ISO 8601 time PostgreSQL takes as a timestamptz. zod's own check accepts year 0000 and
 * offsets up to ±23:59; PostgreSQL refuses both ("date/time field value out of range", "time zone
 * displacement out of range"). Real offsets run from -12:00 to +14:00.
 */
export const timestamp = z.iso
  .datetime({ offset: true })
  .refine((v) => !v.startsWith('0000'), 'year must be 0001 or later')
  .refine((v) => {
    const offset = /([+-])(\d{2}):(\d{2})$/.exec(v);
    return !offset || Number(offset[2]) * 60 + Number(offset[3]) <= 14 * 60;
  }, 'the offset must be within ±14:00');

export const listOutboxQuery = z.strictObject({
  status: z
    .enum(PARKED_STATES)
    .optional()
    .describe('events parked in some subscription: retrying, or dead'),
  type: text.optional().describe('event type, e.g. order.status_changed'),
  aggregateType: text.optional().describe('e.g. order'),
  aggregateId: text.optional().describe('e.g. 7'),
  before: outboxId
    .optional()
    .describe('page: rows with a lower id than this (nextBefore of the previous page)'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type ListOutboxQuery = z.infer<typeof listOutboxQuery>;

export const outboxIdParams = z.strictObject({ id: outboxId });

/** A replay names done events by id range (both ends included) or by creation time [from, to). */
export const replayBody = z
  .strictObject({
    fromId: outboxId.optional().describe('first id (inclusive)'),
    toId: outboxId.optional().describe('last id (inclusive)'),
    from: timestamp.optional().describe('created at or after (ISO 8601)'),
    to: timestamp.optional().describe('created before (ISO 8601)'),
    dryRun: z.boolean().default(false).describe('only count what would be replayed'),
  })
  .superRefine((b, ctx) => {
    const byId = b.fromId !== undefined || b.toId !== undefined;
    const byTime = b.from !== undefined || b.to !== undefined;
    if (byId === byTime) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'give an id range (fromId, toId) or a time range (from, to), not both or neither',
      });
      return;
    }
    const missing = byId
      ? (['fromId', 'toId'] as const).filter((k) => b[k] === undefined)
      : (['from', 'to'] as const).filter((k) => b[k] === undefined);
    for (const k of missing)
      ctx.addIssue({ code: 'custom', path: [k], message: 'is required with the other end' });
  });
export type ReplayBody = z.infer<typeof replayBody>;

export const delivery = z.object({
  subscription: z.string(),
  state: z.enum(DELIVERY_STATES),
  attempts: z
    .number()
    .int()
    .nullable()
    .describe('tries of a parked event; null when it was never parked'),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable().describe('when a retrying event is tried next'),
});
export type Delivery = z.infer<typeof delivery>;

export const outboxRowSummary = z.object({
  id: z.string(),
  aggregateType: z.string(),
  aggregateId: z.string(),
  type: z.string(),
  status: z
    .enum(DELIVERY_STATES)
    .describe('the worst of its deliveries: dead, retrying, pending, then done'),
  createdAt: z.string(),
  replayOf: z.string().nullable().describe('the event this one is a replayed copy of'),
  deliveries: z.array(delivery).describe('its state in every subscription that owes it'),
});
export type OutboxRowSummary = z.infer<typeof outboxRowSummary>;

export const outboxRowDetail = outboxRowSummary.extend({
  payload: z.unknown(),
});
export type OutboxRowDetail = z.infer<typeof outboxRowDetail>;

export const outboxPage = z.object({
  items: z.array(outboxRowSummary),
  nextBefore: z
    .string()
    .nullable()
    .describe('pass as `before` for the next page; null on the last'),
});

export const replayResult = z.object({
  dryRun: z.boolean(),
  matched: z.number().int().describe('events in the range'),
  replayed: z.number().int().describe('copies inserted (0 on a dry run)'),
  ids: z.array(z.string()).describe('ids of the copies'),
});
export type ReplayResult = z.infer<typeof replayResult>;

export const subscriptionStats = z.object({
  name: z.string(),
  kind: z.string(),
  state: z.enum(['active', 'paused', 'backing_off']),
  holder: z.string().nullable().describe('the instance holding its lease'),
  backoffUntil: z.string().nullable(),
  lastError: z.string().nullable(),
  behind: z.number().int().describe('events after its position (counted up to 10,000)'),
  lagSeconds: z.number().describe('age of the oldest event after its position'),
  retrying: z.number().int(),
  dead: z.number().int(),
});

export const outboxStats = z.object({
  counts: z.object({
    pending: z.number().int().describe('the largest backlog of any subscription'),
    retrying: z.number().int().describe('parked events being retried, in all subscriptions'),
    dead: z.number().int().describe('dead events, in all subscriptions'),
  }),
  lagSeconds: z.number().describe("the largest lag: a subscription's oldest owed event"),
  subscriptions: z.array(subscriptionStats),
  throughput: z.object({
    lastMinute: z.number().int().describe('events captured in the last 60 s'),
    perSecond: z.number(),
  }),
});
export type OutboxStats = z.infer<typeof outboxStats>;
