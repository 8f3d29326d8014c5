import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../../app-error';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * `Bearer <token>`: the scheme's name is case-insensitive (RFC 9110 §11.1, "bearer" and "BEARER"
 * are the same scheme), and one or more spaces may follow it.
 */
const BEARER = /^bearer +(.+)$/i;

/**
 * Requires `Authorization: Bearer <token>`. The comparison runs in constant time: both sides are
 * hashed first, so neither the content nor the length of the token leaks through timing.
 * `realm` names the protected part in WWW-Authenticate; `variable` is the setting the caller
 * needs (named in the message, never its value).
 */
export function bearerAuth(
  token: string,
  { realm, variable }: { realm: string; variable: string } = {
    realm: 'admin',
    variable: 'ADMIN_TOKEN',
  },
): RequestHandler {
  const expected = digest(token);
  return (req, res, next) => {
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${realm}"`);
      next(
        new AppError(
          'unauthorized',
          match ? 'the bearer token is wrong' : `send Authorization: Bearer <${variable}>`,
        ),
      );
      return;
    }
    next();
  };
}
