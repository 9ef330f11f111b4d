import type { Clock } from '../clock.js';
import { FencedError } from '../errors.js';

/**
 * Whether Postgres still answers this term: every statement on the leader's path (claims, heartbeats,
 * completions, ledger writes) reports how it went, with the time it was sent. Once a statement has failed and
 * nothing sent since the first failing one has been answered for `graceMs`, `onLost` is called, once, even if a
 * statement is still waiting: the leader then gives its term up, so that a replica that can reach Postgres may
 * lead. Counting from the send time, not from when the failure showed, keeps a statement timeout from
 * stretching the grace.
 */
export class DatabaseContact {
  private failingSince: number | undefined;
  private lastError: unknown;
  private timer: NodeJS.Timeout | undefined;
  private lost = false;

  constructor(
    private readonly clock: Clock,
    private readonly graceMs: number,
    private readonly onLost: (failingForMs: number, lastError: unknown) => void,
  ) {}

  /** A statement sent at `sentAt` was answered. An answer to one sent before the trouble began proves nothing. */
  answered(sentAt: number): void {
    if (this.failingSince === undefined || sentAt < this.failingSince) return;
    this.failingSince = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A statement sent at `sentAt` failed (no answer in time, a lost connection, or an error). */
  failed(sentAt: number, err: unknown): void {
    if (this.lost) return;
    this.lastError = err;
    if (this.failingSince === undefined || sentAt < this.failingSince) {
      this.failingSince = sentAt;
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const leftMs = this.failingSince + this.graceMs - this.clock();
    if (leftMs <= 0) this.lose();
    else this.timer ??= setTimeout(() => this.lose(), leftMs);
  }

  /**
   * Reports how `statement`, sent at `sentAt`, went, and settles as it does. A refusal by the fence
   * (FencedError) is an answer; any other error counts against the database.
   */
  async report<T>(sentAt: number, statement: Promise<T>): Promise<T> {
    try {
      const result = await statement;
      this.answered(sentAt);
      return result;
    } catch (err) {
      if (err instanceof FencedError) this.answered(sentAt);
      else this.failed(sentAt, err);
      throw err;
    }
  }

  /** Whether onLost has been called. */
  get isLost(): boolean {
    return this.lost;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private lose(): void {
    if (this.lost || this.failingSince === undefined) return;
    this.lost = true;
    this.stop();
    this.onLost(this.clock() - this.failingSince, this.lastError);
  }
}
