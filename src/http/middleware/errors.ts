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
      return undefined;
  }
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
