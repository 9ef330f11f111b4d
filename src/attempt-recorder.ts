import type pg from 'pg';
import { finishAttempts, type FinishedAttempt } from './db/finish-attempts.js';
import type { Logger } from './observability/logger.js';

/** Outcomes wait at most this long for company before they are written… */
const GATHER_MS = 10;
/** …or until this many are waiting. */
const GATHER_MAX = 250;

/**
 * Writes attempt outcomes to the ledger soon after handlers return: what finishes within GATHER_MS (or the
 * first GATHER_MAX) goes in one statement, and whatever arrives while a write is in flight goes into the
 * next one. The write is on an autocommit connection, so a recorded success survives a crash before the
 * claim transaction commits (which may be a whole batch later), and the next claim reconciles it instead of
 * running it again; only an outcome younger than GATHER_MS plus one write is lost to a crash.
 */
export class AttemptRecorder {
  private pending: FinishedAttempt[] = [];
  private flushing: Promise<void> | undefined;
  private gathered: (() => void) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  record(attempt: FinishedAttempt): void {
    this.pending.push(attempt);
    this.flushing ??= this.drain();
    if (this.pending.length >= GATHER_MAX) this.gathered?.();
  }

  /** Resolves once everything recorded so far is written (or its write has failed and been logged). */
  async flush(): Promise<void> {
    this.gathered?.();
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.gathered?.(), GATHER_MS);
        this.gathered = () => {
          this.gathered = undefined;
          clearTimeout(timer);
          resolve();
        };
      });
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await finishAttempts(this.pool, batch);
        } catch (err) {
          this.log.warn({ err, attempts: batch.length }, 'could not record attempt outcomes in the ledger');
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
