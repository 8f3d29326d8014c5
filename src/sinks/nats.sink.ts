import {
  connect,
  nanos,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { redactUrl } from '../observability/logger';
import { PermanentError } from '../outbox/handler';
import { eventEnvelope } from './event-envelope';
import type { Sink, SinkFactory } from './sink';

/**
 * JetStream drops a message whose Nats-Msg-Id it has seen within this window. A duplicate only
 * arises when a publish reached the stream but its ack did not reach us and the event is retried:
 * 10 minutes covers the first retries of the default backoff (1 + 2 + 4 + ... + 256 s = 8.5 min),
 * at the cost of the server remembering ids for that long.
 */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

/** How long a publish waits for the stream's ack before it counts as failed (and is retried). */
const PUBLISH_TIMEOUT_MS = 5_000;

// JetStream API error codes (nats-server errors.json).
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const STREAM_SUBJECT_OVERLAP = 10065;

export interface NatsSinkOptions {
  url: string;
  stream: string;
  /** Subjects are `<prefix>.<aggregate_type>.<event_type>`; the stream captures `<prefix>.>`. */
  subjectPrefix: string;
  logger: Logger;
}

function apiErrorCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } }).api_error?.err_code;
}

/** Creates the stream unless it exists; an existing stream is used as it is configured. */
async function ensureStream(
  jsm: JetStreamManager,
  opts: NatsSinkOptions,
  logger: Logger,
): Promise<void> {
  try {
    await jsm.streams.info(opts.stream);
    return;
  } catch (err) {
    if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
  }
  try {
    await jsm.streams.add({
      name: opts.stream,
      subjects: [`${opts.subjectPrefix}.>`],
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
    logger.info({ subjects: `${opts.subjectPrefix}.>` }, 'created the JetStream stream');
  } catch (err) {
    // Another instance created it between our two calls: that is the stream we wanted.
    if (apiErrorCode(err) === STREAM_NAME_IN_USE) return;
    if (apiErrorCode(err) === STREAM_SUBJECT_OVERLAP) {
      throw new Error(
        `cannot create the stream ${opts.stream} on ${opts.subjectPrefix}.>: another stream ` +
          `already captures those subjects (set NATS_STREAM to that stream, or another NATS_SUBJECT_PREFIX)`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Characters that would make a subject a wildcard or split it wrongly. */
const BAD_SUBJECT_TOKEN = /[\s*>]/;

/**
 * Publishes every event to JetStream with Nats-Msg-Id = event id and waits for the stream's ack,
 * so a retried event is stored once. Connects on first use: the service starts while NATS is
 * down, and events wait in the outbox (retried with backoff) until it is back.
 */
export function createNatsSink(opts: NatsSinkOptions): Sink {
  const logger = opts.logger.child({ component: 'nats-sink', stream: opts.stream });
  let connection: Promise<NatsConnection> | undefined;
  let stream: Promise<JetStreamClient> | undefined;
  let closed = false;

  async function open(): Promise<NatsConnection> {
    const nc = await connect({
      servers: opts.url,
      name: 'pg-trigger-outbox',
      // Once connected, reconnect forever: publishes fail meanwhile and the outbox retries them.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
    });
    logger.info({ server: redactUrl(opts.url) }, 'connected to NATS');
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
          logger.warn({ status: s.type, data: String(s.data) }, 'NATS connection status');
      }
    })().catch(() => undefined);
    return nc;
  }

  /** The connection and the stream, set up once; a failed setup is tried again on next use. */
  function ready(): Promise<JetStreamClient> {
    if (!connection) {
      const c = open().catch((err) => {
        if (connection === c) connection = undefined;
        throw new Error(`cannot connect to NATS at ${redactUrl(opts.url)}: ${errorMessage(err)}`);
      });
      connection = c;
    }
    if (!stream) {
      const s = connection.then(async (nc) => {
        await ensureStream(await nc.jetstreamManager(), opts, logger);
        return nc.jetstream();
      });
      s.catch(() => {
        if (stream === s) stream = undefined;
      });
      stream = s;
    }
    return stream;
  }

  return {
    name: 'nats',
    eventTypes: '*',
    async deliver(event, { signal }) {
      if (closed) throw new Error('the NATS sink is closed (shutting down)');
      signal.throwIfAborted();
      if (BAD_SUBJECT_TOKEN.test(event.aggregateType) || BAD_SUBJECT_TOKEN.test(event.type)) {
        throw new PermanentError(
          `cannot publish ${event.aggregateType}/${event.type}: not valid in a NATS subject`,
        );
      }
      const js = await ready();
      const subject = `${opts.subjectPrefix}.${event.aggregateType}.${event.type}`;
      try {
        const ack = await js.publish(subject, JSON.stringify(eventEnvelope(event)), {
          msgID: event.id,
          timeout: PUBLISH_TIMEOUT_MS,
        });
        if (ack.duplicate)
          logger.debug({ id: event.id, seq: ack.seq }, 'JetStream already had this event');
      } catch (err) {
        // "no responders": no stream takes the subject (deleted?). Look it up again next time.
        if ((err as { code?: string }).code === '503') stream = undefined;
        throw new Error(`publish to ${subject} (stream ${opts.stream}): ${errorMessage(err)}`, {
          cause: err,
        });
      }
    },
    async check() {
      await ready();
    },
    async close() {
      closed = true;
      const nc = await connection?.catch(() => undefined);
      // drain: flushes what was published and lets pending acks arrive before closing.
      if (nc && !nc.isClosed()) await nc.drain();
    },
  };
}

export const natsSinks: SinkFactory = ({ config, logger }) =>
  config.NATS_URL
    ? [
        createNatsSink({
          url: config.NATS_URL,
          stream: config.NATS_STREAM,
          subjectPrefix: config.NATS_SUBJECT_PREFIX,
          logger,
        }),
      ]
    : [];
