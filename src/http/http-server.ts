import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CODES, type ErrorCode } from '../app-error';
import type { Logger } from '../observability/logger';

/**
 * The HTTP server's limits (README "Limits"). Node's defaults suit a server behind a trusted
 * proxy; these bound what one slow or hostile client can hold.
 */
export const SERVER_LIMITS = {
  /** All request headers must arrive within this (Node default 60 s): slowloris. */
  headersTimeoutMs: 10_000,
  /** The whole request (headers and body) must arrive within this (Node default 300 s). */
  requestTimeoutMs: 30_000,
  /**
   * How often Node enforces the two timeouts above (default 30 s, which would let a slow client
   * hold a socket for up to 30 s past its deadline).
   */
  connectionsCheckingIntervalMs: 2_000,
  /** An idle keep-alive connection is closed after this (Node default 5 s). */
  keepAliveTimeoutMs: 5_000,
  /**
   * A socket with no traffic either way (e.g. a stuck response) is destroyed after this. A
   * long-lived stream (server-sent events) must send a heartbeat more often than this.
   */
  socketIdleTimeoutMs: 60_000,
  /** Total size of the request line and headers (Node default, stated here to document it). */
  maxHeaderBytes: 16 * 1024,
  /** Headers beyond this count are dropped (Node default 2000). */
  maxHeadersCount: 100,
  /** Open connections; beyond it Node closes new sockets at once (default: unlimited). */
  maxConnections: 1_000,
  /** Requests per keep-alive connection before the server asks the client to reconnect. */
  maxRequestsPerSocket: 1_000,
} as const;

/** The error a malformed request gets before it ever reaches Express. */
function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request_timeout';
  return 'bad_request';
}

const CLIENT_ERROR_MESSAGES: Partial<Record<ErrorCode, string>> = {
  headers_too_large: `the request headers are larger than ${SERVER_LIMITS.maxHeaderBytes} bytes`,
  request_timeout: `the request did not arrive within ${SERVER_LIMITS.requestTimeoutMs} ms`,
  bad_request: 'the request is not valid HTTP/1.1',
};

/**
 * Answers requests Node's HTTP parser rejects (garbage, oversized headers, timeouts) in the API's
 * JSON error format instead of Node's bare `400 Bad Request`. The raw packet is never logged: it
 * may hold an Authorization header.
 */
function answerClientError(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code = clientErrorCode(err);
    const status = ERROR_CODES[code];
    const requestId = randomUUID();
    logger.info({ reqId: requestId, code: err.code, status }, 'malformed HTTP request refused');
    const body = JSON.stringify({
      error: { code, message: CLIENT_ERROR_MESSAGES[code], requestId },
    });
    // A response to HEAD has no body, even when the rest of the request was unreadable; a client
    // would read our body as the start of a next response.
    const head = (err as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1');
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
        'content-type: application/json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\n` +
        'connection: close\r\n\r\n' +
        (head === 'HEAD ' ? '' : body),
    );
  };
}

/** The service's HTTP server: the Express app behind the limits above. */
export function createHttpServer(app: http.RequestListener, logger: Logger): http.Server {
  const server = http.createServer(
    {
      headersTimeout: SERVER_LIMITS.headersTimeoutMs,
      requestTimeout: SERVER_LIMITS.requestTimeoutMs,
      connectionsCheckingInterval: SERVER_LIMITS.connectionsCheckingIntervalMs,
      maxHeaderSize: SERVER_LIMITS.maxHeaderBytes,
    },
    app,
  );
  server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeoutMs;
  server.maxHeadersCount = SERVER_LIMITS.maxHeadersCount;
  server.maxConnections = SERVER_LIMITS.maxConnections;
  server.maxRequestsPerSocket = SERVER_LIMITS.maxRequestsPerSocket;
  server.setTimeout(SERVER_LIMITS.socketIdleTimeoutMs);
  server.on('clientError', answerClientError(logger.child({ component: 'http' })));
  return server;
}
