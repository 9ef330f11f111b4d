import { setImmediate as nextTurn } from 'node:timers/promises';
import type pg from 'pg';
import { finishAttempts, type FinishedAttempt } from './db/finish-attempts.js';
import type { Logger } from './observability/logger.js';

/**
 * Writes attempt outcomes to the ledger as soon as handlers return: one write per turn of the event loop for
 * everything that finished in it, and whatever arrives while a write is in flight goes into the next one. The write is on an autocommit connection, so a recorded success survives a
 * crash before the claim transaction commits, and the next claim reconciles it instead of running it again.
 */
export class AttemptRecorder {
  private pending: FinishedAttempt[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  record(attempt: FinishedAttempt): void {
    this.pending.push(attempt);
    this.flushing ??= this.drain();
  }

  /** Resolves once everything recorded so far is written (or its write has failed and been logged). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      await nextTurn();
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
