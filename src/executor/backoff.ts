export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  /** The random fraction of each delay, from 0 to 1 (default 0.5: "equal jitter"). */
  readonly jitter?: number;
}

/** The longest wait a handler may ask for (RetryLater, Retry-After): a week. Longer asks are capped. */
export const MAX_RETRY_AFTER_MS = 7 * 24 * 3600 * 1000;

/**
 * Delay before the attempt after `attempt` failed: exponential (base * 2^(attempt-1), capped at max), of which
 * the `jitter` fraction is random (by default half: "equal jitter"), so retries of records that failed
 * together spread out but never come back at once. Pure: pass `random` to test it without chance.
 */
export function retryDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 52)));
  const jitter = backoff.jitter ?? 0.5;
  return Math.round(exponential * (1 - jitter) + random() * exponential * jitter);
}

/** The backoff, or the handler's own ask when it is longer (never over MAX_RETRY_AFTER_MS, never negative). */
export function nextRunDelayMs(attempt: number, backoff: Backoff, askedMs?: number, random?: () => number): number {
  const asked = askedMs !== undefined && Number.isFinite(askedMs) ? askedMs : 0;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(retryDelayMs(attempt, backoff, random), asked, 0));
}
