import path from 'node:path';
import express, { Router, type Request, type Response } from 'express';
import { AppError } from '../../app-error';
import type { LiveFeed, LiveMessage } from '../../observability/live-feed';
import type { Logger } from '../../observability/logger';
import { labelRoute } from '../middleware/http-metrics';
import { methodNotAllowed } from '../middleware/method-not-allowed';

/** Resolved from the project root, so it is the same under ts-node (src/) and tsc output (dist/). */
export const PUBLIC_DIR = path.resolve(__dirname, '../../../src/http/public');
const UPLOT_DIR = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');

/** A proxy or load balancer that sees nothing for this long may cut the stream; a comment keeps it. */
const HEARTBEAT_MS = 15_000;

/**
 * How many live streams may be open, and how much unsent data one may hold. Every stream holds a
 * connection for as long as its page is open: without a cap, 1,000 of them reach the server's
 * maxConnections (src/http/http-server.ts) and nobody else gets an answer, /healthz included.
 */
export interface StreamLimits {
  /** Streams open at once, all clients together (LIVE_STREAMS_MAX); then 503. */
  maxStreams: number;
  /** Streams open at once from one client address (LIVE_STREAMS_PER_CLIENT); then 429. */
  maxPerClient: number;
  /**
   * A stream whose unsent data passes this is closed: its client does not read (or reads slower
   * than events come), and the server would otherwise buffer for it without limit. The settled
   * events of one batch are written at once (280 bytes each with one handler, 380 with four: a
   * batch of 500 is 140-190 KB), so the bound must hold a burst that a reading client drains in
   * milliseconds: 1 MiB, about 3,000 settled events, on top of what the kernel buffers. A client closed by mistake loses nothing: its
   * EventSource reconnects within 2 s and gets a fresh snapshot.
   */
  maxBufferedBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxStreams: 100,
  maxPerClient: 5,
  maxBufferedBytes: 1024 * 1024,
};

/** Seconds a refused client is told to wait (Retry-After). */
const RETRY_AFTER_S = 5;

/** Counts open streams, in total and per client address. */
function streamSlots(limits: StreamLimits) {
  const perClient = new Map<string, number>();
  let total = 0;
  return {
    get open() {
      return total;
    },
    /** Takes a slot for `client`, or says which cap refuses it. */
    take(client: string): 'ok' | 'client' | 'total' {
      const mine = perClient.get(client) ?? 0;
      if (mine >= limits.maxPerClient) return 'client';
      if (total >= limits.maxStreams) return 'total';
      perClient.set(client, mine + 1);
      total++;
      return 'ok';
    },
    release(client: string): void {
      const mine = (perClient.get(client) ?? 1) - 1;
      if (mine > 0) perClient.set(client, mine);
      else perClient.delete(client);
      total--;
    },
  };
}

function refusal(res: Response, which: 'client' | 'total', limits: StreamLimits): AppError {
  res.setHeader('Retry-After', String(RETRY_AFTER_S));
  // The refused client's socket is closed after the answer, not kept alive: 900 refused clients
  // idling on keep-alive would hold the server's connections as surely as 900 streams.
  res.setHeader('Connection', 'close');
  return which === 'client'
    ? new AppError(
        'too_many_requests',
        `this client already has ${limits.maxPerClient} live streams open (LIVE_STREAMS_PER_CLIENT); close one`,
      )
    : new AppError(
        'server_busy',
        `${limits.maxStreams} live streams are open, the most this instance serves (LIVE_STREAMS_MAX); retry later`,
      );
}

/**
 * Writes one message unless the client has stopped reading: past maxBufferedBytes of unsent data
 * the stream is closed instead (the page's EventSource reconnects when it reads again).
 * Returns false once the stream is closed.
 */
function writeBounded(res: Response, text: string, limits: StreamLimits, onDrop: () => void) {
  if (res.destroyed) return false;
  if (res.writableLength + Buffer.byteLength(text) > limits.maxBufferedBytes) {
    onDrop();
    res.destroy();
    return false;
  }
  res.write(text);
  return true;
}

function sse({ event, data }: LiveMessage | { event: 'hello'; data: unknown }): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** GET / (the live page and its assets) and GET /events/stream (Server-Sent Events). */
export function liveRouter({
  live,
  limits: given,
  logger,
}: {
  live: LiveFeed;
  limits?: Partial<StreamLimits>;
  logger?: Logger;
}): Router {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...given };
  const slots = streamSlots(limits);
  const log = logger?.child({ component: 'live-stream' });
  const router = Router();

  router
    .route('/')
    .get((_req, res) => res.sendFile(path.join(PUBLIC_DIR, 'index.html')))
    .all(methodNotAllowed(['GET']));
  router.use('/assets', (_req, res, next) => (labelRoute(res, '/assets/*'), next()));
  router.use('/assets', express.static(PUBLIC_DIR, { index: false, maxAge: '1h' }));
  router.use('/assets/uplot', express.static(UPLOT_DIR, { index: false, maxAge: '1d' }));

  router
    .route('/events/stream')
    .get(async (req: Request, res, next) => {
      const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      const taken = slots.take(client);
      if (taken !== 'ok') {
        // debug: the request log already has the 429/503, and a flood of refusals must not flood.
        log?.debug({ client, cap: taken, open: slots.open }, 'live stream refused: cap reached');
        next(refusal(res, taken, limits));
        return;
      }
      let closed = false;
      let cleanup = () => {};
      res.on('close', () => {
        closed = true;
        slots.release(client);
        cleanup();
      });
      const onDrop = () =>
        log?.info(
          { client, bufferedBytes: res.writableLength },
          'live stream closed: the client does not read (its unsent data passed the bound)',
        );
      const write = (text: string) => writeBounded(res, text, limits, onDrop);

      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses by default, which would hold events back.
        'x-accel-buffering': 'no',
      });
      // Reconnect quickly after a restart; EventSource does it by itself.
      write('retry: 2000\n\n');
      const snapshot = await live.snapshot();
      if (closed || !write(sse({ event: 'hello', data: snapshot }))) return;
      const unsubscribe = live.subscribe({
        send: (message) => void write(sse(message)),
        end: () => res.end(),
      });
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      cleanup = () => {
        clearInterval(heartbeat);
        unsubscribe();
      };
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
