import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, ERROR_CODES } from '../../app-error';
import { errorMessage, isTransientDbError } from '../../db/errors';
import type { Logger } from '../../observability/logger';

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `no route for ${req.method} ${req.path}`));
};

/** Errors thrown by express.json() (body-parser) carry a `type`. */
function fromBodyParser(err: { type?: unknown; limit?: unknown }): AppError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new AppError('invalid_json', 'the body is not valid JSON');
    case 'entity.too.large':
      return new AppError(
        'payload_too_large',
        `the body is larger than ${String(err.limit)} bytes`,
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('unsupported_media_type', 'the body must be UTF-8 JSON');
    default:
      return fromClientError(err);
  }
}

/**
 * Any other 4xx raised by Express or body-parser (http-errors carry `status`): a path whose
 * percent-encoding is broken, a body shorter than its content-length, a corrupt gzip body. Without
 * this they would be answered as 500s. The message is fixed: theirs may echo the input.
 */
function fromClientError(err: { status?: unknown; type?: unknown }): AppError | undefined {
  const { status, type } = err;
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  const what = typeof type === 'string' ? ` (${type})` : '';
  return new AppError('bad_request', `the request is malformed${what}`);
}

/** Turns any thrown value into the one JSON error format; internals never reach the body. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    let appError = err instanceof AppError ? err : fromBodyParser(err ?? {});
    if (!appError && isTransientDbError(err)) {
      logger.warn({ err: errorMessage(err), reqId: req.id }, 'database unavailable');
      res.setHeader('Retry-After', '1');
      appError = new AppError('database_unavailable', 'the database is unavailable; retry shortly');
    }
    if (!appError) {
      logger.error({ err, reqId: req.id }, 'unexpected error');
      appError = new AppError('internal_error', `unexpected error (request id ${String(req.id)})`);
    }
    res.status(ERROR_CODES[appError.code]).json({
      error: {
        code: appError.code,
        message: appError.message,
        ...(appError.details ? { details: appError.details } : {}),
        requestId: req.id,
      },
    });
  };
}
