import {
  context,
  isSpanContextValid,
  type Link,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/**
 * Traces through the standard `@opentelemetry/api`: one span per attempt. Until the host application
 * registers an SDK, every call here lands on the API's no-op implementation (no exporter, no sampling, no
 * context storage), so it costs an object or two per attempt.
 */
const TRACER = 'retry-worker';

/** W3C traceparent, version 00: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a W3C `traceparent` names; undefined for anything else (or the all-zero ids). */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: Number.parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** The trace a record's payload links to: `payload.traceparent`, written by the service that recorded it. */
function payloadTraceparent(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const value = (payload as { traceparent?: unknown }).traceparent;
  return parseTraceparent(value) ? (value as string).trim() : undefined;
}

export interface AttemptSpanFacts {
  recordId: number;
  recordUid: string;
  kind: string;
  attempt: number;
  payload: unknown;
  epoch: number;
  replicaId: string;
}

/**
 * Starts the span of one attempt, linked (not parented: the attempt is work of its own, later) to the trace of
 * the failure that created the record, when its payload carries a `traceparent`.
 */
export function startAttemptSpan(facts: AttemptSpanFacts): Span {
  const linked = parseTraceparent((facts.payload as { traceparent?: unknown } | null)?.traceparent);
  const links: Link[] = linked ? [{ context: linked }] : [];
  return trace.getTracer(TRACER).startSpan(`retry ${facts.kind}`, {
    kind: SpanKind.CONSUMER,
    links,
    attributes: {
      'retry_worker.record.id': facts.recordId,
      'retry_worker.record.uid': facts.recordUid,
      'retry_worker.kind': facts.kind,
      'retry_worker.attempt': facts.attempt,
      'retry_worker.epoch': facts.epoch,
      'retry_worker.replica_id': facts.replicaId,
    },
  });
}

/**
 * Runs `fn` with `span` active, so that a handler (and the http handler's traceparent) can see it. A span with
 * no valid context (the API's no-op span: no SDK, and no parent in the active context) is not made active: it
 * would change nothing a handler can see (its own spans and `outgoingTraceparent` read the same either way),
 * and a new context per attempt cost several per cent of a drain's CPU.
 */
export function withSpan<T>(span: Span, fn: () => T): T {
  if (!isSpanContextValid(span.spanContext())) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Ends an attempt's span with its outcome; an error sets the span's status. */
export function endAttemptSpan(span: Span, outcome: string, error: Error | null): void {
  span.setAttribute('retry_worker.outcome', outcome);
  if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.end();
}

/**
 * The traceparent to send downstream: the active span's (the attempt's, when an SDK records it), else the
 * record's own `payload.traceparent`, else none.
 */
export function outgoingTraceparent(payload: unknown): string | undefined {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && isSpanContextValid(active))
    return `00-${active.traceId}-${active.spanId}-${(active.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  return payloadTraceparent(payload);
}
