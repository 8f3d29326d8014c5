import { z } from 'zod';
import { outboxId, text, timestamp } from './admin.schema';

// The admin API's subscription routes: list, pause and resume, move a position (rewind, forward),
// create (a backfill), and retry or skip parked events by filter.

export const SUBSCRIPTION_STATES = ['active', 'paused', 'backing_off'] as const;
export const SUBSCRIPTION_KINDS = ['external', 'sql', 'transactional'] as const;

/** Counted events are counted up to this (a request must stay cheap however long the log). */
export const COUNT_CAP = 10_000;
/** The most parked events one retry or skip acts on; more match: call again. */
export const MAX_PARKED_ACTION = 10_000;

/** A subscription named in a path: anything outbox_subscriptions may hold (text, no NUL). */
export const subscriptionParams = z.strictObject({ name: text.describe('the subscription') });

/**
 * A new subscription's name, as the service derives them (webhook:orders, webhook:localhost:4000,
 * email, a handler's name): letters, digits and . _ : @ - [ ] (an IPv6 host), up to 128.
 */
const newName = z
  .string()
  .regex(
    /^[A-Za-z0-9][\w.:@[\]-]{0,127}$/,
    'letters, digits and . _ : @ - [ ], starting with a letter or digit, up to 128',
  );

const dryRun = z.boolean().default(false).describe('only count what it would do; change nothing');

type Target = { fromId?: string; fromTime?: string; from?: string };

/** Exactly one of fromId, fromTime and from. */
function oneTarget(b: Target, ctx: z.RefinementCtx): void {
  const given = (['fromId', 'fromTime', 'from'] as const).filter((k) => b[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: 'give exactly one of fromId, fromTime and from',
    });
  }
}

const fromId = outboxId
  .optional()
  .describe('the first event to deliver: this id, or the first retained after it');
const fromTime = timestamp
  .optional()
  .describe('the first event to deliver: the first written at or after this time (ISO 8601)');

/** Rewind: deliver again from an event, a time, or the oldest event retained. */
export const rewindBody = z
  .strictObject({
    fromId,
    fromTime,
    from: z.enum(['oldest']).optional().describe('oldest: every event retained'),
    dryRun,
  })
  .superRefine(oneTarget);
export type RewindBody = z.infer<typeof rewindBody>;

/** Forward: skip what it owes before an event, a time, or everything committed now. */
export const forwardBody = z
  .strictObject({
    fromId,
    fromTime,
    from: z.enum(['now']).optional().describe('now: skip every event committed now'),
    dryRun,
  })
  .superRefine(oneTarget);
export type ForwardBody = z.infer<typeof forwardBody>;

/** A subscription created before any instance serves it: a webhook given history, say. */
export const createSubscriptionBody = z
  .strictObject({
    name: newName.describe('e.g. webhook:crm (as WEBHOOK_URLS=crm=https://... names it)'),
    kind: z
      .enum(SUBSCRIPTION_KINDS)
      .default('external')
      .describe('set again by the instance that serves it'),
    eventTypes: z
      .array(text)
      .min(1)
      .max(100)
      .nullable()
      .default(null)
      .describe('the event types it takes; null: every type (set again by its instance)'),
    fromId,
    fromTime,
    from: z
      .enum(['now', 'oldest'])
      .optional()
      .describe('now: new events only; oldest: every event retained'),
    paused: z.boolean().default(false).describe('created paused: resume it when ready'),
  })
  .superRefine(oneTarget);
export type CreateSubscriptionBody = z.infer<typeof createSubscriptionBody>;

/** Which parked events a retry or a skip acts on; every filter given must hold. */
export const parkedActionBody = z.strictObject({
  subscription: text.optional().describe('only this subscription'),
  state: z
    .enum(['dead', 'retrying'])
    .optional()
    .describe('dead, or retrying (a waiting one included); absent: both'),
  eventId: outboxId.optional().describe('only this event'),
  type: text.optional().describe('event type, e.g. order.status_changed'),
  aggregateType: text.optional().describe('e.g. order'),
  aggregateId: text.optional().describe('e.g. 7'),
  from: timestamp.optional().describe('events written at or after (ISO 8601)'),
  to: timestamp.optional().describe('events written before (ISO 8601)'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_PARKED_ACTION)
    .default(1000)
    .describe('act on at most this many (oldest first); `more` says whether others match'),
  dryRun,
});
export type ParkedActionBody = z.infer<typeof parkedActionBody>;

// ---- responses ------------------------------------------------------------------------------------

const count = z.object({
  count: z.number().int(),
  more: z.boolean().describe(`counted up to ${COUNT_CAP}: there may be more`),
});

const eventRef = z.object({ id: z.string(), createdAt: z.string() });

export const subscriptionDetail = z.object({
  name: z.string(),
  kind: z.string(),
  eventTypes: z.array(z.string()).nullable().describe('null: every type'),
  state: z.enum(SUBSCRIPTION_STATES),
  backoffUntil: z.string().nullable().describe('backing off as a whole until then'),
  lastError: z.string().nullable(),
  holder: z.string().nullable().describe('the instance (worker id) holding its lease'),
  leaseUntil: z.string().nullable(),
  position: z.object({
    snapshot: z.string().describe('the writers it has consumed (a pg_snapshot)'),
    batch: z
      .object({ snapshot: z.string(), cursor: z.string().describe('the last id consumed') })
      .nullable()
      .describe('the batch it is reading, if one is open'),
    origin: z.string().describe('where it started: the writers visible here were never owed'),
    next: eventRef.nullable().describe('the next event after its position (none: caught up)'),
  }),
  lag: z.object({
    events: z
      .number()
      .int()
      .describe(`events after its position, of every type (up to ${COUNT_CAP})`),
    more: z.boolean(),
    seconds: z.number().describe('age of the oldest event after its position; 0 when none'),
  }),
  parked: z.object({
    retrying: z.number().int().describe('failed, to be tried again (or due)'),
    waiting: z.number().int().describe('behind a parked event of their aggregate'),
    dead: z.number().int(),
  }),
  throughput: z
    .object({
      perSecond: z.number().describe('events settled done per second, last 60 s'),
      failedPerSecond: z.number().describe('tries that failed per second, last 60 s'),
      heldHere: z.boolean().describe('this instance holds its lease (the one that handles it)'),
    })
    .describe("this instance's: only the lease holder handles a subscription's events"),
  createdAt: z.string(),
});
export type SubscriptionDetail = z.infer<typeof subscriptionDetail>;

export const subscriptionList = z.object({ items: z.array(subscriptionDetail) });

export const moveResult = z.object({
  subscription: z.string(),
  direction: z.enum(['rewind', 'forward']),
  dryRun: z.boolean(),
  from: eventRef
    .nullable()
    .describe('the first event it delivers from now on; null: those committed later'),
  deliverAgain: count.describe('events of its types it had consumed and delivers again'),
  skip: count.describe('events of its types it owed and skips'),
  keptOwed: z
    .number()
    .int()
    .describe('rewind: events before `from` it still owed, parked to be delivered (never skipped)'),
  unparked: z
    .number()
    .int()
    .describe('rewind: its parked events from `from` on, read again from the log instead'),
});
export type MoveResult = z.infer<typeof moveResult>;

export const parkedActionResult = z.object({
  dryRun: z.boolean(),
  matched: z.number().int().describe('parked events matching, up to `limit`'),
  more: z.boolean().describe('more than `limit` match'),
  acted: z.number().int().describe('retried or skipped (0 on a dry run)'),
  items: z.array(
    z.object({
      subscription: z.string(),
      eventId: z.string(),
      state: z.enum(['retrying', 'waiting', 'dead']),
      attempts: z.number().int(),
    }),
  ),
});
export type ParkedActionResult = z.infer<typeof parkedActionResult>;
