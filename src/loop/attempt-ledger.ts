import type pg from 'pg';
import { withTimeout } from '../async.js';
import { discardAttempts, type FinishedAttempt, finishAttempts } from '../db/finish-attempts.js';
import { type AttemptStart, startAttempts } from '../db/start-attempts.js';
import type { Logger } from '../observability/logger.js';

/**
 * The attempt ledger of one term, on autocommit pool connections (never a claim transaction, whose
 * rollback would erase it):
 * - start(): one row per attempt about to start, written and committed before any of them starts;
 * - finish(): outcomes, gathered while a write is in flight and written together (one statement each);
 * - discard(): rows of attempts that never started (they must not count).
 * Every write is bounded by `timeoutMs`.
 */
export class AttemptLedger {
  private queued: FinishedAttempt[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly epoch: number,
    private readonly replicaId: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  start(starts: readonly AttemptStart[]): Promise<number[]> {
    return withTimeout(
      startAttempts(this.pool, starts, this.epoch, this.replicaId),
      this.timeoutMs,
      'recording attempts',
    );
  }

  /** Queues an outcome. Outcomes that arrive in one turn of the event loop, or while a write runs, go together. */
  finish(attempt: FinishedAttempt): void {
    this.queued.push(attempt);
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.writeQueued());
  }

  /** Resolves once every outcome queued so far is written (or its write failed and was logged). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  discard(ledgerIds: readonly number[]): Promise<void> {
    return withTimeout(discardAttempts(this.pool, ledgerIds), this.timeoutMs, 'discarding attempts that never started');
  }

  private async writeQueued(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        await withTimeout(finishAttempts(this.pool, batch), this.timeoutMs, 'recording attempt outcomes').catch(
          (err: unknown) =>
            this.log.warn(
              { err, attempts: batch.length },
              'could not record attempt outcomes in the ledger; the next claim counts them as unfinished',
            ),
        );
      }
    } finally {
      this.writing = undefined;
    }
  }
}
