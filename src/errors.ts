/** A setting is missing or malformed. The message names the variable, what is wrong and what is expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${variable}: ${message}`, options);
  }
}

/**
 * `instanceof` for the errors handlers throw, by a brand on the prototype rather than by prototype identity:
 * a HANDLERS_MODULE may import these classes from another installed copy of the package. Subclasses keep the
 * ordinary test.
 */
function brandedInstanceOf(base: abstract new (...args: never[]) => unknown, brand: symbol) {
  return function (this: unknown, value: unknown): boolean {
    if (this !== base) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  };
}

const PERMANENT_FAILURE = Symbol.for('retry-worker.PermanentFailure');
const RETRY_LATER = Symbol.for('retry-worker.RetryLater');

/**
 * Thrown by a handler when retrying cannot help (a malformed payload, a 4xx answer).
 * The record becomes `dead` at once, whatever attempts it has left.
 */
export class PermanentFailure extends Error {
  override readonly name = 'PermanentFailure';
  static override [Symbol.hasInstance] = brandedInstanceOf(PermanentFailure, PERMANENT_FAILURE);
}
Object.defineProperty(PermanentFailure.prototype, PERMANENT_FAILURE, { value: true });

/**
 * Thrown by a handler that wants its record retried no sooner than `retryAfterMs`
 * (the built-in http handler uses it for `Retry-After`).
 */
export class RetryLater extends Error {
  override readonly name = 'RetryLater';
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  static override [Symbol.hasInstance] = brandedInstanceOf(RetryLater, RETRY_LATER);
}
Object.defineProperty(RetryLater.prototype, RETRY_LATER, { value: true });

/** Postgres holds another term's epoch than this replica's: the term is over. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    readonly epoch: number,
    readonly storedEpoch: number | null,
  ) {
    super(`term ${epoch} was superseded in Postgres (stored epoch ${storedEpoch ?? 'none'})`);
  }
}

/** A call did not answer within its bound. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * Why a running handler's signal aborted. `reason` is stable, for code; the message is for people.
 * - timeout: the execution timeout passed (the attempt counts as failed)
 * - rows-uncertain: the claim session's row locks may be gone (connection lost, or no answer from Postgres in
 *   time to be sure the server has not ended the session)
 * - shutdown: the shutdown timeout passed
 * - stalled: the event loop stalled long enough that the row locks may be gone
 * - cancelled: an operator cancelled the record (`retry-worker cancel`); the attempt ends cancelled, not failed
 */
export type AbortReason = 'timeout' | 'rows-uncertain' | 'shutdown' | 'stalled' | 'cancelled';

export class ExecutionAborted extends Error {
  override readonly name = 'ExecutionAborted';
  constructor(
    readonly reason: AbortReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A command-line option is missing or malformed (exit 2). The message names the option. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

/** Turns anything thrown into an Error, so that logs and `last_error` always have a message. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(thrown)}`);
  } catch {
    return new Error(`non-error thrown: ${String(thrown)}`);
  }
}
