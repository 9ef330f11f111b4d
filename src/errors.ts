/** A setting is missing or malformed. The message names the variable, what is wrong and what is expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/**
 * Thrown by a handler when retrying cannot help (a malformed payload, a 4xx answer).
 * The record becomes `dead` at once, whatever attempts it has left.
 */
export class PermanentFailure extends Error {
  override readonly name = 'PermanentFailure';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

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
}

/** Postgres holds a newer epoch than this replica's term: the term is over. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    readonly epoch: number,
    readonly storedEpoch: number | null,
  ) {
    super(`epoch ${epoch} was superseded in Postgres (stored epoch ${storedEpoch ?? 'none'})`);
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
