import { PermanentFailure, RetryLater } from '../errors.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface HttpPayload {
  url: string;
  method: (typeof METHODS)[number];
  headers: Record<string, string>;
  body: unknown;
}

/** Validates an `http` record's payload; a malformed one is a permanent failure. */
export function parseHttpPayload(payload: unknown): HttpPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new PermanentFailure('http payload must be a JSON object with at least "url"');
  }
  const p = payload as Record<string, unknown>;
  if (typeof p.url !== 'string') throw new PermanentFailure('http payload: "url" must be a string');
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    throw new PermanentFailure(`http payload: "url" is not a valid URL: ${JSON.stringify(p.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PermanentFailure(`http payload: "url" must be http or https, got ${url.protocol}`);
  const method = p.method === undefined ? 'POST' : typeof p.method === 'string' ? p.method.toUpperCase() : undefined;
  if (method === undefined || !(METHODS as readonly string[]).includes(method)) {
    throw new PermanentFailure(`http payload: "method" must be one of ${METHODS.join(', ')}, got ${JSON.stringify(p.method)}`);
  }
  const headers: Record<string, string> = {};
  if (p.headers !== undefined) {
    if (typeof p.headers !== 'object' || p.headers === null || Array.isArray(p.headers)) throw new PermanentFailure('http payload: "headers" must be an object of strings');
    for (const [name, value] of Object.entries(p.headers)) {
      if (typeof value !== 'string') throw new PermanentFailure(`http payload: header ${JSON.stringify(name)} must be a string`);
      headers[name] = value;
    }
  }
  if ((method === 'GET' || method === 'HEAD') && p.body !== undefined) throw new PermanentFailure(`http payload: a ${method} request cannot have a "body"`);
  return { url: url.toString(), method: method as HttpPayload['method'], headers, body: p.body };
}

/** Retry-After as milliseconds: either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The built-in `http` handler: sends the request described by the payload with Idempotency-Key (stable per
 * record), X-Retry-Attempt, X-Fencing-Token and X-Replica-Id. 2xx succeeds; network errors, 408, 429 and 5xx
 * retry (honouring Retry-After); any other status is a permanent failure.
 */
export const httpHandler: Handler = async (record: FailedRecord, ctx: HandlerContext) => {
  const req = parseHttpPayload(record.payload);
  const headers: Record<string, string> = {
    ...req.headers,
    'idempotency-key': `failed-record-${record.id}`,
    'x-retry-attempt': String(ctx.attempt),
    'x-fencing-token': String(ctx.fencingToken),
    'x-replica-id': ctx.replicaId,
  };
  let body: string | undefined;
  if (req.body !== undefined) {
    body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    if (typeof req.body !== 'string' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  const res = await fetch(req.url, { method: req.method, headers, body, signal: ctx.signal, redirect: 'follow' });
  const text = await res.text().catch(() => '');
  if (res.ok) return;
  const summary = `${req.method} ${req.url} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    if (retryAfterMs !== undefined) throw new RetryLater(summary, retryAfterMs);
    throw new Error(summary);
  }
  throw new PermanentFailure(summary);
};
