import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../../app-error';

/**
 * At most `perMinute` requests per client per minute (express-rate-limit, counted in this
 * process's memory: each instance counts its own). A client is its address (req.ip: set
 * TRUST_PROXY behind a proxy, or every client shares the proxy's), IPv6 clients by /56 as
 * providers hand them out. Past the limit: 429 in the API's error format with Retry-After and the
 * RateLimit headers (IETF draft 8). No limit when perMinute is unset.
 */
export function rateLimitPerClient(perMinute: number | undefined): RequestHandler {
  if (!perMinute) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ipv6Subnet: 56,
    handler: (_req, _res, next, options) =>
      next(
        new AppError(
          'too_many_requests',
          `more than ${options.limit} requests in a minute from this client (RATE_LIMIT_PER_MINUTE); retry after the time Retry-After says`,
        ),
      ),
  });
}
