import type { NatsConnection } from 'nats';
import { createLogger } from '../../src/observability/logger';
import type { OutboxEvent } from '../../src/outbox/event-types';
import { createNatsSink, DUPLICATE_WINDOW_MS } from '../../src/sinks/nats.sink';
import type { Sink } from '../../src/sinks/sink';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import {
  deleteStream,
  describeWithNats,
  NATS_URL,
  natsConnection,
  readStream,
  uniqueNatsNames,
} from '../helpers/nats';
import { startTestService, stopAllServices } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const logger = createLogger({ level: 'silent' });
const signal = new AbortController().signal;

function event(id: string, aggregateId = '5'): OutboxEvent {
  return {
    id,
    aggregateType: 'order',
    aggregateId,
    type: 'order.status_changed',
    payload: { op: 'update', table: 'orders', new: { id: Number(aggregateId) }, old: {} },
    createdAt: new Date('2030-01-02T03:04:05.000Z'),
    attempt: 1,
  } as OutboxEvent;
}

describeWithNats('the NATS JetStream sink (real nats-server at NATS_URL)', () => {
  let nc: NatsConnection;
  let names: ReturnType<typeof uniqueNatsNames>;
  let sink: Sink | undefined;
  beforeEach(async () => {
    nc = await natsConnection();
    names = uniqueNatsNames();
  });
  afterEach(async () => {
    await sink?.close?.();
    sink = undefined;
    await deleteStream(nc, names.stream);
    await nc.close();
  });

  function newSink(): Sink {
    sink = createNatsSink({ url: NATS_URL!, ...names, logger });
    return sink;
  }

  test('creates the stream when missing, with <prefix>.> and a duplicate window', async () => {
    await newSink().deliver(event('1'), { signal });
    const info = await (await nc.jetstreamManager()).streams.info(names.stream);
    expect(info.config.subjects).toEqual([`${names.subjectPrefix}.>`]);
    expect(info.config.duplicate_window).toBe(DUPLICATE_WINDOW_MS * 1_000_000);
  });

  test('publishes to <prefix>.<aggregate_type>.<event_type> with Nats-Msg-Id = event id', async () => {
    await newSink().deliver(event('17', '9'), { signal });
    const [message, ...rest] = await readStream(nc, names.stream);
    expect(rest).toEqual([]);
    expect(message).toMatchObject({
      subject: `${names.subjectPrefix}.order.order.status_changed`,
      msgId: '17',
      data: {
        id: '17',
        type: 'order.status_changed',
        aggregate: { type: 'order', id: '9' },
        created_at: '2030-01-02T03:04:05.000Z',
      },
    });
  });

  test('a forced redelivery of the same event is dropped as a duplicate by JetStream', async () => {
    const s = newSink();
    await s.deliver(event('1'), { signal });
    await s.deliver(event('1'), { signal });
    await s.deliver(event('2'), { signal });
    expect((await readStream(nc, names.stream)).map((m) => m.msgId)).toEqual(['1', '2']);
  });

  test('after close() it refuses to publish (the service closes it after the drain)', async () => {
    const s = newSink();
    await s.deliver(event('1'), { signal });
    await s.close!();
    sink = undefined;
    await expect(s.deliver(event('2'), { signal })).rejects.toThrow(/closed/);
  });

  test('an existing stream is used as it is', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.order.>`] });
    await newSink().deliver(event('3'), { signal });
    const info = await jsm.streams.info(names.stream);
    expect(info.config.subjects).toEqual([`${names.subjectPrefix}.order.>`]);
    expect(info.state.messages).toBe(1);
  });

  describe('in the service', () => {
    let db: TestDatabase;
    beforeEach(async () => {
      db = await createTestDatabase();
      await db.seed();
    });
    afterEach(async () => {
      await stopAllServices();
      await db.drop();
    });

    async function relayed(start: 'now' | 'beginning') {
      const service = await startTestService(db.url, {
        env: {
          NATS_URL: NATS_URL!,
          NATS_STREAM: names.stream,
          NATS_SUBJECT_PREFIX: names.subjectPrefix,
          OUTBOX_SUBSCRIPTION_START: start,
        },
      });
      const before = (await db.pool.query(`select id from outbox order by id`)).rows.map(
        (r) => r.id as string,
      );
      await db.pool.query(`update orders set status = 'cancelled' where id in (1, 2)`);
      const { rows } = await db.pool.query(`select id from outbox order by id`);
      const all = rows.map((r) => r.id as string);
      const expected = start === 'now' ? all.filter((id) => !before.includes(id)) : all;
      const messages = await waitFor('every event owed in the stream', async () => {
        const m = await readStream(nc, names.stream).catch(() => []);
        return m.length >= expected.length && m;
      });
      expect(messages.map((m) => m.msgId).sort()).toEqual([...expected].sort());
      return { service, before, expected };
    }

    test('a new subscription starts at the end of the log: every event after it, once', async () => {
      const { service, expected } = await relayed('now');
      // The two status changes; the seed's order.created events came before the subscription.
      expect(expected).toHaveLength(2);
      await service.stop();
    });

    test('OUTBOX_SUBSCRIPTION_START=beginning: a new subscription takes every event retained', async () => {
      const { service, before, expected } = await relayed('beginning');
      // The seed's 12 order.created events and the two status changes.
      expect(before).toHaveLength(12);
      expect(expected).toHaveLength(14);
      await service.stop();
    });
  });
});
