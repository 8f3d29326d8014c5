import {
  deliverInOrder,
  planChunk,
  settleChunk,
  settleRetries,
  type DeliveryResult,
  type Failure,
} from '../../src/outbox/chunk';
import { PermanentError } from '../../src/outbox/handler';
import type { LogEventRow } from '../../src/outbox/sql/log';

// What a subscription does with the events it read, without a database: grouping, holding back,
// parking, moving on, and backing off as a whole.

function row(id: number, aggregate: string, extra: Partial<LogEventRow> = {}): LogEventRow {
  return {
    id: String(id),
    aggregate_type: 'order',
    aggregate_id: aggregate,
    event_type: 'order.status_changed',
    payload: {},
    created_at: new Date(0),
    owed: true,
    blocked: false,
    attempt: 1,
    ...extra,
  };
}

const fail = (error: string, permanent = false): Failure => ({ error, permanent });
const opts = { limit: 10, maxAttempts: 3 };

describe('planning a chunk', () => {
  test('groups the events to deliver by aggregate, in id order, and moves past every row read', () => {
    const plan = planChunk(
      [row(1, 'a'), row(2, 'b'), row(3, 'a', { owed: false }), row(4, 'a'), row(5, 'c')],
      opts,
    )!;
    expect(plan.groups.map((g) => g.map((r) => r.id))).toEqual([['1', '4'], ['2'], ['5']]);
    expect(plan.cursor).toBe('5');
    expect(plan.endsBatch).toBe(true);
    expect(plan.waiting).toEqual([]);
  });

  test('a full read does not end the batch; nothing read is no plan', () => {
    const rows = Array.from({ length: 10 }, (_, i) => row(i + 1, String(i)));
    expect(planChunk(rows, opts)!.endsBatch).toBe(false);
    expect(planChunk([], opts)).toBeUndefined();
  });

  test('an event whose aggregate has a parked event waits; events not owed are skipped', () => {
    const plan = planChunk([row(1, 'a', { blocked: true }), row(2, 'b', { owed: false })], opts)!;
    expect(plan.groups).toEqual([]);
    expect(plan.waiting.map((r) => r.id)).toEqual(['1']);
    expect(plan.cursor).toBe('2');
  });

  test('on the last try the chunk ends after its first event to deliver', () => {
    const rows = [row(1, 'a', { owed: false }), row(2, 'b'), row(3, 'c')].map((r) => ({
      ...r,
      attempt: 3,
    }));
    const plan = planChunk(rows, opts)!;
    expect(plan.groups.map((g) => g.map((r) => r.id))).toEqual([['2']]);
    expect(plan.cursor).toBe('2');
    expect(plan.endsBatch).toBe(false);
    expect(plan.exhausted).toBeUndefined();
  });

  test('past the last try that event is dead without another delivery', () => {
    const rows = [row(7, 'a'), row(8, 'b')].map((r) => ({ ...r, attempt: 4 }));
    const plan = planChunk(rows, opts)!;
    expect(plan.groups).toEqual([]);
    expect(plan.exhausted?.id).toBe('7');
    const outcome = settleChunk(plan, new Map(), opts.maxAttempts);
    expect(outcome).toEqual({
      kind: 'advance',
      parked: [expect.objectContaining({ event_id: '7', state: 'dead', attempts: 4 })],
    });
  });
});

describe('settling a chunk', () => {
  const plan = planChunk(
    [row(1, 'a'), row(2, 'a'), row(3, 'b'), row(4, 'c', { blocked: true })],
    opts,
  )!;

  test('every call failed, none for good: back off, park nothing', () => {
    const results = new Map<string, DeliveryResult>([
      ['1', fail('down')],
      ['2', 'held back'],
      ['3', fail('down too')],
    ]);
    expect(settleChunk(plan, results, opts.maxAttempts)).toEqual({
      kind: 'back off',
      error: 'down',
    });
  });

  test('one failure among successes: it is parked, the later event of its aggregate waits', () => {
    const results = new Map<string, DeliveryResult>([
      ['1', fail('refused')],
      ['2', 'held back'],
      ['3', null],
    ]);
    const outcome = settleChunk(plan, results, opts.maxAttempts);
    expect(outcome).toEqual({
      kind: 'advance',
      parked: [
        expect.objectContaining({ event_id: '4', state: 'waiting', attempts: 0 }),
        expect.objectContaining({
          event_id: '1',
          state: 'retrying',
          attempts: 1,
          last_error: 'refused',
        }),
        expect.objectContaining({ event_id: '2', state: 'waiting' }),
      ],
    });
  });

  test('a permanent failure is dead at once even when every call failed', () => {
    const results = new Map<string, DeliveryResult>([
      ['1', fail('poison', true)],
      ['2', fail('down')],
      ['3', fail('down')],
    ]);
    const outcome = settleChunk(plan, results, opts.maxAttempts);
    expect(outcome.kind).toBe('advance');
    if (outcome.kind !== 'advance') return;
    expect(outcome.parked.find((p) => p.event_id === '1')).toMatchObject({ state: 'dead' });
    expect(outcome.parked.find((p) => p.event_id === '3')).toMatchObject({ state: 'retrying' });
  });

  test('on the last try a failure is dead, not a back-off', () => {
    const last = planChunk([row(1, 'a', { attempt: 3 })], opts)!;
    const outcome = settleChunk(last, new Map([['1', fail('down')]]), opts.maxAttempts);
    expect(outcome).toEqual({
      kind: 'advance',
      parked: [expect.objectContaining({ event_id: '1', state: 'dead', attempts: 3 })],
    });
  });
});

describe('delivering one aggregate', () => {
  test('after a failure that may be retried, the later events are held back', async () => {
    const results = new Map<string, DeliveryResult>();
    const calls: string[] = [];
    await deliverInOrder(
      [row(1, 'a'), row(2, 'a'), row(3, 'a')],
      async (r) => {
        calls.push(r.id);
        if (r.id === '2') throw new Error('nope');
      },
      results,
    );
    expect(calls).toEqual(['1', '2']);
    expect(results.get('1')).toBeNull();
    expect(results.get('2')).toMatchObject({ error: 'nope', permanent: false });
    expect(results.get('3')).toBe('held back');
  });

  test('after a permanent failure (dead), the order moves on', async () => {
    const results = new Map<string, DeliveryResult>();
    await deliverInOrder(
      [row(1, 'a'), row(2, 'a')],
      async (r) => {
        if (r.id === '1') throw new PermanentError('poison');
      },
      results,
    );
    expect(results.get('1')).toMatchObject({ permanent: true });
    expect(results.get('2')).toBeNull();
  });
});

describe('settling retries of parked events', () => {
  test('delivered leave, failures wait for their backoff, dead when permanent or out of tries', () => {
    const rows = [row(1, 'a'), row(2, 'b', { attempt: 3 }), row(3, 'c'), row(4, 'd')];
    const results = new Map<string, DeliveryResult>([
      ['1', null],
      ['2', fail('still down')],
      ['3', fail('poison', true)],
      ['4', fail('flaky')],
    ]);
    expect(settleRetries(rows, results, opts.maxAttempts)).toEqual([
      { event_id: '1', ok: true },
      expect.objectContaining({ event_id: '2', ok: false, dead: true }),
      expect.objectContaining({ event_id: '3', ok: false, dead: true }),
      expect.objectContaining({ event_id: '4', ok: false, dead: false, last_error: 'flaky' }),
    ]);
  });
});
