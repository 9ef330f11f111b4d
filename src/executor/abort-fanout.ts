/**
 * One listener on a parent signal, fanned out to many short-lived subscribers through a Set. Executions
 * subscribe here instead of adding an event listener each: adding and removing DOM-style listeners per
 * execution cost more than a no-op handler itself.
 */
/** What an abort is for: `abort(reason)` is called once when the signal aborts. */
export interface Abortable {
  abort(reason: unknown): void;
}

export class AbortFanout {
  private readonly subscribers = new Set<Abortable>();
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

  /** Calls `subscriber.abort()` once when the signal aborts (at once if it already has). */
  subscribe(subscriber: Abortable): void {
    if (this.signal.aborted) subscriber.abort(this.signal.reason);
    else this.subscribers.add(subscriber);
  }

  unsubscribe(subscriber: Abortable): void {
    this.subscribers.delete(subscriber);
  }

  private fire(): void {
    const reason: unknown = this.signal.reason;
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const subscriber of subscribers) subscriber.abort(reason);
  }
}
