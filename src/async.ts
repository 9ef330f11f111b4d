import { TimeoutError } from './errors.js';

/** Resolves after `ms` (never, for Infinity), or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    // A setTimeout of Infinity would fire at once: an infinite sleep has no timer.
    const timer = Number.isFinite(ms)
      ? setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms)
      : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Rejects with TimeoutError when `promise` has not settled after `ms`. The promise itself is not cancelled:
 * when it resolves after the timeout, `disposeLate` gets its value (a stream or a watcher opened too late,
 * which nobody else would ever close, and which would keep the process alive).
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  disposeLate?: (late: T) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new TimeoutError(`${what} timed out after ${Math.round(ms)} ms`));
    }, ms);
  });
  if (disposeLate)
    promise.then(
      (late) => timedOut && disposeLate(late),
      () => undefined,
    );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves when `signal` aborts (at once if it has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
