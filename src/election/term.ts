import { type Clock, systemClock } from '../clock.js';

/**
 * One term of leadership, as an elector hands it to the leadership gate.
 *
 *   live ──extend()──▶ live            (a renewal was acknowledged: safeUntil moves forward only)
 *   live ──end(reason)──▶ ended        (signal aborts once, with a TermEnded reason; end() again is a no-op)
 *
 * Invariants: `epoch` and `token` never change; `isSafe()` is false once ended or once the clock passes
 * `safeUntil`, even before any timer has noticed (a paused process checks it the moment it resumes). The
 * token is unique per term (a UUID), so two terms that were handed the same epoch are still told apart.
 */
export type TermEndReason =
  | 'resigned' // we gave the lease back (shutdown)
  | 'lease-expired' // the backend says our lease is gone
  | 'deadline' // our own safe-until deadline passed without a renewal
  | 'key-deleted' // someone removed our leader key
  | 'fenced' // Postgres holds another term
  | 'database-unreachable' // the leader could not reach Postgres for a whole lease TTL
  | 'stalled' // the event loop stalled long enough that the row locks may be gone
  | 'released'; // the gate finished the term by itself

class TermEnded extends Error {
  override readonly name = 'TermEnded';
  constructor(
    readonly epoch: number,
    readonly reason: TermEndReason,
  ) {
    super(`term ${epoch} ended: ${reason}`);
  }
}

export class Term {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private safeUntilMs: number;
  private reason: TermEndReason | undefined;

  constructor(
    readonly epoch: number,
    readonly token: string,
    safeUntilMs: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.signal = this.controller.signal;
    this.safeUntilMs = safeUntilMs;
  }

  /** True while the term has not ended and its lease is certainly still held. */
  isSafe(): boolean {
    return this.reason === undefined && this.clock() < this.safeUntilMs;
  }

  /** Milliseconds left before the lease may have expired (negative once past). */
  remainingMs(): number {
    return this.safeUntilMs - this.clock();
  }

  get endReason(): TermEndReason | undefined {
    return this.reason;
  }

  /** Moves the deadline forward after an acknowledged renewal; never backward, never after the end. */
  extend(safeUntilMs: number): void {
    if (this.reason === undefined && safeUntilMs > this.safeUntilMs) this.safeUntilMs = safeUntilMs;
  }

  /** Ends the term once; later calls keep the first reason. */
  end(reason: TermEndReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller.abort(new TermEnded(this.epoch, reason));
  }
}
