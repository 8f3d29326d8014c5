import type { RequestHandler } from 'express';
import type { z } from 'zod';
import { AppError, type ErrorDetail } from '../../app-error';

export function zodDetails(error: z.ZodError): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: base ? `${base}.${key}` : key,
        message: 'unknown field',
      }));
    }
    return [{ path: base || '(body)', message: issue.message }];
  });
}

type Part = 'body' | 'params' | 'query';

/**
 * Validates one part of the request against a zod schema and replaces it with the parsed value;
 * a failure is a 400 naming every failing field. Handlers read the result from res.locals.
 */
export function validate<S extends z.ZodType>(part: Part, schema: S): RequestHandler {
  return (req, res, next) => {
    const result = schema.safeParse(req[part]);
    if (!result.success) {
      next(new AppError('validation_error', `invalid request ${part}`, zodDetails(result.error)));
      return;
    }
    res.locals[part] = result.data;
    next();
  };
}

/** A request with a body must say it is JSON; anything else is a 415. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    next(
      new AppError(
        'unsupported_media_type',
        'the body must be JSON (content-type: application/json)',
      ),
    );
    return;
  }
  next();
};
