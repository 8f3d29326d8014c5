import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  nanos,
  type ConnectionOptions,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
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
  /** nats://[user:password@ | token@]host:port (or tls://): the credentials, if any, are used, never logged. */
  url: string;
  /** The contents of a credentials file (NATS_CREDS_FILE: a user JWT and its nkey seed). */
  creds?: Uint8Array;
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

/**
 * NATS_URL's credentials as nats.js takes them (it ignores the ones in a server URL): user and
 * password, or a token alone in the user part (nats://s3cr3t@host, the NATS convention); a
 * credentials file's user JWT and seed. `server` is the URL without any of them, for logs and
 * errors.
 */
export function natsConnection(
  url: string,
  creds?: Uint8Array,
): { server: string; options: ConnectionOptions } {
  const u = new URL(url);
  const server = `${u.protocol}//${u.host}`;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const auth: ConnectionOptions = creds
    ? { authenticator: credsAuthenticator(creds) }
    : user && pass
      ? { user, pass }
      : user
        ? { token: user }
        : {};
  return { server, options: { servers: server, ...auth } };
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
  const { server, options } = natsConnection(opts.url, opts.creds);
  let connection: Promise<NatsConnection> | undefined;
  let stream: Promise<JetStreamClient> | undefined;
  let closed = false;

  async function open(): Promise<NatsConnection> {
    const nc = await connect({
      ...options,
      name: 'pg-trigger-outbox',
      // Once connected, reconnect forever: publishes fail meanwhile and the outbox retries them.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
    });
    logger.info({ server }, 'connected to NATS');
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
        throw new Error(`cannot connect to NATS at ${server}: ${errorMessage(err)}`);
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

/** Reads NATS_CREDS_FILE at start-up: a missing or unreadable file stops the service, named. */
function readCreds(file: string | undefined): Uint8Array | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(
      `NATS_CREDS_FILE ${file} cannot be read: ${(err as { code?: string }).code ?? errorMessage(err)}`,
    );
  }
}

export const natsSinks: SinkFactory = ({ config, logger }) =>
  config.NATS_URL
    ? [
        createNatsSink({
          url: config.NATS_URL,
          creds: readCreds(config.NATS_CREDS_FILE),
          stream: config.NATS_STREAM,
          subjectPrefix: config.NATS_SUBJECT_PREFIX,
          logger,
        }),
      ]
    : [];
