import { PermanentFailure, RetryLater } from '../errors.js';
import { MAX_RETRY_AFTER_MS } from './backoff.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';
import { parseHttpPayload } from './http-payload.js';

export { type HttpPayload, parseHttpPayload } from './http-payload.js';

/** Retry-After as milliseconds: either delta-seconds or an HTTP date; capped at MAX_RETRY_AFTER_MS. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Math.min(MAX_RETRY_AFTER_MS, Number(value) * 1000);
  if (!/[a-z]/i.test(value)) return undefined; // an HTTP date has a day or month name
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now));
}

/**
 * The built-in `http` handler: sends the request described by the payload with Idempotency-Key (stable per
 * record), X-Retry-Attempt, X-Fencing-Token and X-Replica-Id. 2xx succeeds; network errors, 408, 429 and 5xx
 * retry (honouring Retry-After); any other status is a permanent failure.
 */
export const httpHandler: Handler = async (record: FailedRecord, ctx: HandlerContext) => {
  const req = parseHttpPayload(record.payload);
  // The reserved headers are set last on a Headers object, so a payload header in any case cannot forge them.
  const headers = new Headers(req.headers);
  headers.set('idempotency-key', record.uid);
  headers.set('x-retry-attempt', String(ctx.attempt));
  headers.set('x-fencing-token', String(ctx.fencingToken));
  headers.set('x-replica-id', ctx.replicaId);
  let body: string | undefined;
  if (req.body !== undefined) {
    body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    if (typeof req.body !== 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
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
