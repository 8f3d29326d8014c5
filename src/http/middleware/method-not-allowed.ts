import type { RequestHandler } from 'express';
import { AppError } from '../../app-error';

/** The last handler of a route: a known path asked with a method it does not serve. */
export function methodNotAllowed(allowed: string[]): RequestHandler {
  const allow = allowed.join(', ');
  return (req, res, next) => {
    res.setHeader('Allow', allow);
    next(new AppError('method_not_allowed', `${req.method} is not allowed here; use ${allow}`));
  };
}
