import type { EventEmitter } from 'node:events';
import createSubscriber, { type Subscriber } from 'pg-listen';
import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import type { OutboxEvents } from './events';

export const OUTBOX_CHANNEL = 'outbox';

/** Silences a subscriber we are discarding, so its late events cannot touch our state. */
function detach(sub: Subscriber): void {
  (sub.events as unknown as EventEmitter).removeAllListeners();
  (sub.notifications as unknown as EventEmitter).removeAllListeners();
}

export interface ListenerDeps {
  connectionString: string;
  logger: Logger;
  events: OutboxEvents;
  /** Called on every notification and after every (re)connect: "go and look at the table". */
  onWake: () => void;
}

export interface Listener {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly connected: boolean;
  readonly lastNotificationAt: number | undefined;
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

  function build(): Subscriber {
    const sub = createSubscriber(
      { connectionString: deps.connectionString, application_name: 'outbox-listener' },
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
    sub.notifications.on(OUTBOX_CHANNEL, () => {
      lastNotificationAt = Date.now();
      deps.events.emit('listener:notification', {});
      deps.onWake();
    });
    sub.events.on('connected', () => {
      connected = true;
      logger.info(
        { reconnect: everConnected },
        everConnected ? 'listener reconnected' : 'listener connected',
      );
      deps.events.emit('listener:connected', { reconnect: everConnected });
      everConnected = true;
      deps.onWake();
    });
    sub.events.on('reconnect', (attempt) => {
      if (connected) {
        deps.events.emit('listener:disconnected', { error: 'connection lost' });
      }
      connected = false;
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
    async start() {
      stopped = false;
      await connect(1);
    },
    async stop() {
      stopped = true;
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
