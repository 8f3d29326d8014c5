import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type pg from 'pg';
import createSubscriber, { type Subscriber } from 'pg-listen';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import type { OutboxEvents } from './events';

export const OUTBOX_CHANNEL = 'outbox';
/**
 * The payload of an operator's NOTIFY on OUTBOX_CHANNEL (migration 0051: a subscription paused,
 * resumed or moved, parked events put back): lanes read their subscription's state again.
 */
export const OPERATOR_NOTIFY_PAYLOAD = 'subscriptions';
/** Self-addressed NOTIFYs that prove the LISTEN connection still receives (see HeartbeatOptions). */
export const HEARTBEAT_CHANNEL = 'outbox_heartbeat';

/** Silences a subscriber we are discarding, so its late events cannot touch our state. */
function detach(sub: Subscriber): void {
  const events = sub.events as unknown as EventEmitter;
  events.removeAllListeners();
  // A discarded subscriber may still fail to re-initialise in the background and emit 'error';
  // with no listener that would throw from inside pg-listen (an unhandled rejection). Its
  // failures no longer concern us: the replacement connection has its own listeners.
  events.on('error', () => undefined);
  (sub.notifications as unknown as EventEmitter).removeAllListeners();
}

export interface ListenerDeps {
  connectionString: string;
  logger: Logger;
  events: OutboxEvents;
  /**
   * Called on every notification and after every (re)connect: "go and look at the table". The
   * notification's payload is given (the capture trigger's is empty; an operator's action sends
   * 'subscriptions'); undefined after a (re)connect.
   */
  onWake: (payload?: string) => void;
  /** Sends the heartbeat NOTIFYs (the shared pool). Without it, there is no heartbeat. */
  pool?: Pick<pg.Pool, 'query'>;
  heartbeat?: Partial<HeartbeatOptions>;
}

/**
 * A LISTEN connection can die silently: a NAT or proxy drops the flow, the socket stays open, no
 * error ever comes, and pg-listen's paranoid `SELECT` just hangs. So every `intervalMs` the
 * listener sends itself a NOTIFY (through the pool, with a token of its own) and expects it back on
 * the LISTEN connection within `timeoutMs`; if it does not come, the connection is replaced, which
 * drains the table like any reconnect.
 */
export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 15_000, timeoutMs: 5_000 };

export interface Listener {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly connected: boolean;
  readonly lastNotificationAt: number | undefined;
  /** Connections replaced because a heartbeat did not come back (also in the logs). */
  readonly heartbeatsMissed: number;
}

/** Reconnect delays: 100 ms doubling to 5 s, forever. */
export function reconnectDelay(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Holds the one LISTEN connection (outside the pool: a pooled connection would lose its LISTEN when
 * handed to someone else). A notification is only a doorbell; since notifications sent while
 * disconnected are lost, every (re)connect also rings it, and the dispatcher drains the table.
 */
export function createListener(deps: ListenerDeps): Listener {
  const logger = deps.logger.child({ component: 'listener' });
  let subscriber: Subscriber | undefined;
  let connected = false;
  let stopped = false;
  let everConnected = false;
  let lastNotificationAt: number | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  const heartbeat = { ...DEFAULT_HEARTBEAT, ...deps.heartbeat };
  // Unique per listener: other instances on the same database hear our heartbeats too.
  const heartbeatPrefix = `${process.pid}:${randomBytes(4).toString('hex')}:`;
  let heartbeatSeq = 0;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let awaitedBeat: { token: string; deadline: NodeJS.Timeout } | undefined;
  let heartbeatsMissed = 0;
  /** Subscribers whose first LISTENs are done. */
  const listening = new WeakSet<Subscriber>();

  /** The connection listens on both channels: it may ring the doorbell. */
  function markConnected(): void {
    connected = true;
    logger.info(
      { reconnect: everConnected },
      everConnected ? 'listener reconnected' : 'listener connected',
    );
    deps.events.emit('listener:connected', { reconnect: everConnected });
    everConnected = true;
    deps.onWake();
  }

  function forgetBeat(): void {
    if (awaitedBeat) clearTimeout(awaitedBeat.deadline);
    awaitedBeat = undefined;
  }

  async function beat(): Promise<void> {
    if (!deps.pool || !connected || awaitedBeat || stopped) return;
    const token = heartbeatPrefix + ++heartbeatSeq;
    // Armed before sending: the NOTIFY may come back before the pool's query returns.
    const deadline = setTimeout(() => {
      if (awaitedBeat?.token !== token) return;
      awaitedBeat = undefined;
      heartbeatsMissed++;
      logger.warn(
        { timeoutMs: heartbeat.timeoutMs, token },
        'heartbeat NOTIFY did not come back: the LISTEN connection is silently dead; replacing it',
      );
      deps.events.emit('listener:disconnected', { error: 'heartbeat missed' });
      connected = false;
      scheduleRestart(1);
    }, heartbeat.timeoutMs);
    deadline.unref();
    awaitedBeat = { token, deadline };
    try {
      await deps.pool.query({
        name: 'outbox.heartbeat',
        text: 'select pg_notify($1, $2)',
        values: [HEARTBEAT_CHANNEL, token],
      });
    } catch (err) {
      // The pool cannot reach the database: that says nothing about the LISTEN connection, whose
      // own errors (and pg-listen's reconnect) cover a database that is down.
      if (awaitedBeat?.token === token) forgetBeat();
      logger.debug({ err: errorMessage(err) }, 'could not send the heartbeat');
    }
  }

  function build(): Subscriber {
    const sub = createSubscriber(
      {
        connectionString: deps.connectionString,
        application_name: 'outbox-listener',
        // A connect to an unreachable host would otherwise hang forever and never be retried.
        connectionTimeoutMillis: 10_000,
      },
      {
        // Our payloads are empty strings; pg-listen's default JSON.parse would reject them.
        parse: (payload: string) => payload,
        // Never give up: pg-listen's default stops after 3 s of failed reconnects.
        retryLimit: Infinity,
        retryTimeout: 0,
        retryInterval: reconnectDelay,
        // A cheap query on the connection every 10 s notices a half-open socket.
        paranoidChecking: 10_000,
      },
    );
    sub.notifications.on(OUTBOX_CHANNEL, (payload: string) => {
      lastNotificationAt = Date.now();
      deps.events.emit('listener:notification', {});
      deps.onWake(payload);
    });
    sub.notifications.on(HEARTBEAT_CHANNEL, (token: string) => {
      if (awaitedBeat?.token === token) forgetBeat();
    });
    sub.events.on('connected', () => {
      // pg-listen says 'connected' on its first connect before our LISTENs ran (connect() marks
      // that one); after its own reconnects, only once the channels are listened to again.
      if (listening.has(sub)) markConnected();
    });
    sub.events.on('reconnect', (attempt) => {
      if (connected) {
        deps.events.emit('listener:disconnected', { error: 'connection lost' });
      }
      connected = false;
      forgetBeat();
      logger.warn({ attempt }, 'listener connection lost; reconnecting');
    });
    sub.events.on('error', (err) => {
      // pg-listen gives up on this subscriber after a failed re-initialisation: start a new one.
      connected = false;
      logger.error({ err: errorMessage(err) }, 'listener failed; starting a new connection');
      deps.events.emit('listener:disconnected', { error: errorMessage(err) });
      scheduleRestart(1);
    });
    return sub;
  }

  async function connect(attempt: number): Promise<void> {
    if (stopped) return;
    const sub = build();
    subscriber = sub;
    try {
      await sub.connect();
      await sub.listenTo(OUTBOX_CHANNEL);
      await sub.listenTo(HEARTBEAT_CHANNEL);
      if (stopped || subscriber !== sub) return; // stopped or replaced while connecting
      listening.add(sub);
      // Only now: a wake-up (drain) before LISTEN took effect could miss an event committed in
      // between, whose NOTIFY would not reach us either.
      markConnected();
    } catch (err) {
      connected = false;
      detach(sub);
      await sub.close().catch(() => undefined);
      const delay = reconnectDelay(attempt);
      logger.warn(
        { err: errorMessage(err), attempt, retryInMs: delay },
        'listener could not connect',
      );
      scheduleRestart(attempt + 1, delay);
    }
  }

  function scheduleRestart(attempt: number, delay = reconnectDelay(attempt)): void {
    if (stopped || retryTimer) return;
    forgetBeat();
    const old = subscriber;
    subscriber = undefined;
    if (old) {
      detach(old);
      old.close().catch(() => undefined);
    }
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect(attempt);
    }, delay);
  }

  return {
    get connected() {
      return connected;
    },
    get lastNotificationAt() {
      return lastNotificationAt;
    },
    get heartbeatsMissed() {
      return heartbeatsMissed;
    },
    async start() {
      stopped = false;
      await connect(1);
      if (deps.pool) {
        heartbeatTimer = setInterval(() => void beat(), heartbeat.intervalMs);
        heartbeatTimer.unref();
      }
    },
    async stop() {
      stopped = true;
      clearInterval(heartbeatTimer);
      forgetBeat();
      clearTimeout(retryTimer);
      retryTimer = undefined;
      connected = false;
      const sub = subscriber;
      subscriber = undefined;
      if (sub) {
        detach(sub);
        await sub.close().catch(() => undefined);
      }
      logger.info('listener stopped');
    },
  };
}
