import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Whether a request may read what HTTP_TOKEN protects: with no token set, everyone; else `Authorization: Bearer
 * <token>`, or HTTP Basic with the token as the password (what a browser asks for), compared in constant time.
 */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  return token === undefined || presents(req, token, true);
}

/**
 * Whether a POST of an action carries the token in `Authorization: Bearer`. Only there: a browser attaches
 * HTTP Basic credentials (and cookies) to a cross-site form post by itself, but never a Bearer header, and a
 * cross-origin fetch that sets one needs a CORS preflight this server never grants. So a page of another
 * origin cannot make a logged-in browser act.
 */
export function bearerAuthorized(req: IncomingMessage, token: string): boolean {
  return presents(req, token, false);
}

/** Whether the Authorization header carries `token` (as Bearer, or with `basic` as Basic's password). */
function presents(req: IncomingMessage, token: string, basic: boolean): boolean {
  const [scheme, value = ''] = (req.headers.authorization ?? '').split(' ', 2);
  let presented: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') presented = value;
  else if (basic && scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    presented = decoded.slice(decoded.indexOf(':') + 1);
  }
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
