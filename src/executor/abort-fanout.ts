/**
 * One listener on a parent signal, fanned out to many short-lived subscribers through a Set. Executions
 * subscribe here instead of adding an event listener each: adding and removing DOM-style listeners per
 * execution cost more than a no-op handler itself.
 */
export class AbortFanout {
  private readonly subscribers = new Set<(reason: unknown) => void>();
  private readonly onAbort = () => this.fire();

  constructor(readonly signal: AbortSignal) {
    if (!signal.aborted) signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Removes the listener from the parent. Required when the parent lives longer than the fan-out: Node keeps
   * an AbortSignal.any() signal that has listeners (and what they reach) alive as long as its sources.
   */
  close(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.subscribers.clear();
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
