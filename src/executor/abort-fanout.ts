/**
 * One listener on a parent signal, fanned out to many short-lived subscribers through a Set. Executions
 * subscribe here instead of adding an event listener each: adding and removing DOM-style listeners per
 * execution cost more than a no-op handler itself.
 */
export class AbortFanout {
  private readonly subscribers = new Set<(reason: unknown) => void>();

  constructor(readonly signal: AbortSignal) {
    if (!signal.aborted) signal.addEventListener('abort', () => this.fire(), { once: true });
  }

  /** Calls `onAbort` once when the signal aborts (at once if it already has); returns the unsubscribe. */
  subscribe(onAbort: (reason: unknown) => void): () => void {
    if (this.signal.aborted) {
      onAbort(this.signal.reason);
      return noop;
    }
    this.subscribers.add(onAbort);
    return () => this.subscribers.delete(onAbort);
  }

  private fire(): void {
    const reason: unknown = this.signal.reason;
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const onAbort of subscribers) onAbort(reason);
  }
}

function noop(): void {}
