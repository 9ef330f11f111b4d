export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Delay before the attempt after `attempt` failed: exponential (base * 2^(attempt-1), capped at max), with
 * "equal jitter": half of it fixed, half random, so retries of records that failed together spread out but
 * never come back at once. Pure: pass `random` to test it without chance.
 */
export function retryDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 52)));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
