import path from 'node:path';
import express, { Router, type Response } from 'express';
import type { LiveFeed, LiveMessage } from '../../observability/live-feed';
import { labelRoute } from '../middleware/http-metrics';
import { methodNotAllowed } from '../middleware/method-not-allowed';

/** Resolved from the project root, so it is the same under ts-node (src/) and tsc output (dist/). */
export const PUBLIC_DIR = path.resolve(__dirname, '../../../src/http/public');
const UPLOT_DIR = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');

/** A proxy or load balancer that sees nothing for this long may cut the stream; a comment keeps it. */
const HEARTBEAT_MS = 15_000;

function writeSse(res: Response, { event, data }: LiveMessage | { event: 'hello'; data: unknown }) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** GET / (the live page and its assets) and GET /events/stream (Server-Sent Events). */
export function liveRouter({ live }: { live: LiveFeed }): Router {
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
    .get(async (req, res) => {
      let closed = false;
      let cleanup = () => {};
      req.on('close', () => {
        closed = true;
        cleanup();
      });
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses by default, which would hold events back.
        'x-accel-buffering': 'no',
      });
      // Reconnect quickly after a restart; EventSource does it by itself.
      res.write('retry: 2000\n\n');
      const snapshot = await live.snapshot();
      if (closed) return;
      writeSse(res, { event: 'hello', data: snapshot });
      const unsubscribe = live.subscribe({
        send: (message) => writeSse(res, message),
        end: () => res.end(),
      });
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      cleanup = () => {
        clearInterval(heartbeat);
        unsubscribe();
      };
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
