import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { ConfigError, ExecutionAborted, PermanentFailure, RetryLater } from '../errors.js';
import { outgoingTraceparent } from '../observability/attempt-span.js';
import { SETTINGS } from '../settings.js';
import { MAX_RETRY_AFTER_MS } from './backoff.js';
import { escapeControlCharacters, shownUrl } from './error-text.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';
import { type HttpPayload, parseHttpPayload } from './http-payload.js';
import { ConnectionPools, type OutgoingRequest, readExcerpt, sendRequest } from './send-request.js';
import { type HostLookup, TargetResolver } from './target-resolver.js';

export { type HttpPayload, parseHttpPayload } from './http-payload.js';

/** What the built-in `http` handler reads of a response by default (HTTP_HANDLER_MAX_RESPONSE_BYTES). */
const DEFAULT_MAX_RESPONSE_BYTES = SETTINGS.httpHandlerMaxResponseBytes.default;
/** Same-origin redirects followed before the answer counts as a permanent failure. */
const MAX_REDIRECTS = 5;

export interface HttpHandlerOptions {
  /**
   * HTTP_HANDLER_ALLOW_HOSTS: host names, `*.suffix` patterns and IPv4/IPv6 addresses or CIDRs the handler may
   * call, checked on every address a name resolves to. Unset: every host but link-local and cloud-metadata ones.
   */
  readonly allowHosts?: readonly string[] | undefined;
  /** HTTP_HANDLER_MAX_RESPONSE_BYTES: the most of a response body read (for the error text); the rest is not. */
  readonly maxResponseBytes?: number | undefined;
  /** Resolves a host name to every address it has (default: the system resolver, dns.lookup). */
  readonly lookupHost?: HostLookup | undefined;
}

/** Headers the handler sets itself: a payload header of the same name, in any case, is dropped. */
const RESERVED_HEADERS = ['idempotency-key', 'x-retry-attempt', 'x-fencing-token', 'x-replica-id'];
/** Headers that describe a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
const FOLLOWED_REDIRECTS = [301, 302, 303, 307, 308];

/**
 * The built-in `http` handler: sends the request described by the payload with Idempotency-Key (stable per
 * record), X-Retry-Attempt, X-Fencing-Token and X-Replica-Id, and `traceparent` (the attempt's span, else the
 * payload's own `traceparent`). Only to targets its allow-list lets through (checked
 * after DNS, on the addresses it then connects to); redirects only within the same origin. 2xx succeeds; network
 * errors, 408, 429 and 5xx retry (honouring Retry-After); any other status is a permanent failure. Reads at most
 * `maxResponseBytes` of a body; errors show URLs as origin and path only, and never a header's value.
 */
export function createHttpHandler(options: HttpHandlerOptions = {}): Handler {
  const resolver = new TargetResolver(options.allowHosts, options.lookupHost);
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0)
    throw new ConfigError(SETTINGS.httpHandlerMaxResponseBytes.env, 'expected a whole number of bytes, 0 or more');
  const pools = new ConnectionPools();
  return async (record: FailedRecord, ctx: HandlerContext) => {
    let req = firstRequest(parseHttpPayload(record.payload), record, ctx);
    for (let redirects = 0; ; redirects++) {
      const target = await resolver.resolve(req, ctx.signal);
      let res: IncomingMessage;
      try {
        res = await sendRequest(req, target.host, target.addresses, pools, ctx.signal, () => ctx.isSafe());
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (err instanceof ExecutionAborted) throw err; // not sent: no longer safe to
        throw new Error(`${describe(req)} failed: ${(err as Error).message}`, { cause: err });
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      const excerpt = await readExcerpt(res, maxResponseBytes, ctx.signal);
      if (status >= 200 && status < 300) return;
      const answered = `${describe(req)} answered ${status}`;
      const body = excerpt.bytes.toString('utf8').trimEnd();
      const text = body === '' ? '' : `: ${escapeControlCharacters(body)}`;
      const summary = `${answered}${text}${excerpt.complete ? '' : '…'}`;
      if (status >= 300 && status < 400) {
        req = redirected(req, status, location, answered, redirects);
        continue;
      }
      if (status === 408 || status === 429 || status >= 500) {
        const retryAfterMs = parseRetryAfter(header(res, 'retry-after'));
        if (retryAfterMs !== undefined) throw new RetryLater(summary, retryAfterMs);
        throw new Error(summary);
      }
      throw new PermanentFailure(summary);
    }
  };
}

/** The built-in `http` handler with the default settings (HTTP_HANDLER_ALLOW_HOSTS unset). */
export const httpHandler: Handler = createHttpHandler();

/** A request as errors show it: the method and the URL's origin and path. */
function describe(req: OutgoingRequest): string {
  return `${req.method} ${shownUrl(req.url)}`;
}

function firstRequest(payload: HttpPayload, record: FailedRecord, ctx: HandlerContext): OutgoingRequest {
  const url = new URL(payload.url);
  // Credentials go as Basic authentication, never in a URL an error could show.
  const auth = url.username || url.password ? `${decoded(url.username)}:${decoded(url.password)}` : undefined;
  url.username = '';
  url.password = '';
  url.hash = '';
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(payload.headers))
    if (!RESERVED_HEADERS.includes(name.toLowerCase())) headers[name] = value;
  headers['idempotency-key'] = record.uid;
  headers['x-retry-attempt'] = String(ctx.attempt);
  headers['x-fencing-token'] = String(ctx.fencingToken);
  headers['x-replica-id'] = ctx.replicaId;
  // The attempt's trace (with an SDK registered), else the failure's own, from payload.traceparent.
  const traceparent = outgoingTraceparent(record.payload);
  if (traceparent !== undefined) {
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'traceparent') delete headers[name];
    headers.traceparent = traceparent;
  }
  let body: Buffer | undefined;
  if (payload.body !== undefined) {
    const json = typeof payload.body !== 'string';
    body = Buffer.from(json ? JSON.stringify(payload.body) : (payload.body as string), 'utf8');
    if (json && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
  }
  return { method: payload.method, url, headers, body, auth };
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * The request a redirect asks for, when it is one we follow: 301, 302, 303, 307 or 308, to the same origin
 * (scheme, host and port: https -> http is another), at most MAX_REDIRECTS times. Anything else is a permanent
 * failure naming the target by origin and path only.
 */
function redirected(
  req: OutgoingRequest,
  status: number,
  location: string | undefined,
  answered: string,
  redirects: number,
): OutgoingRequest {
  if (!FOLLOWED_REDIRECTS.includes(status))
    throw new PermanentFailure(`${answered}; not followed (only 301, 302, 303, 307 and 308 are)`);
  if (location === undefined) throw new PermanentFailure(`${answered}, a redirect without a Location; not followed`);
  let target: URL;
  try {
    target = new URL(location, req.url);
  } catch {
    throw new PermanentFailure(`${answered}, a redirect to a Location that is not a URL; not followed`);
  }
  if (target.origin !== req.url.origin) {
    throw new PermanentFailure(
      `${answered}, a redirect to ${shownUrl(target)}: another origin, not followed (only same-origin redirects are)`,
    );
  }
  if (redirects >= MAX_REDIRECTS)
    throw new PermanentFailure(`${answered}, a redirect after ${MAX_REDIRECTS} already followed; not followed`);
  target.username = '';
  target.password = '';
  target.hash = '';
  // As fetch does: 303 turns any method but HEAD into GET, 301 and 302 turn POST into GET; 307 and 308 keep both.
  const toGet =
    (status === 303 && req.method !== 'HEAD') || ((status === 301 || status === 302) && req.method === 'POST');
  if (!toGet) return { ...req, url: target };
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers))
    if (!BODY_HEADERS.includes(name.toLowerCase())) headers[name] = value;
  return { ...req, method: 'GET', url: target, headers, body: undefined };
}

function header(res: IncomingMessage, name: string): string | null {
  const value = res.headers[name];
  return typeof value === 'string' ? value : null;
}

/** Retry-After as milliseconds: either delta-seconds or an HTTP date; capped at MAX_RETRY_AFTER_MS. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Math.min(MAX_RETRY_AFTER_MS, Number(value) * 1000);
  if (!/[a-z]/i.test(value)) return undefined; // an HTTP date has a day or month name
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now));
}
