import type pg from 'pg';
import { finishAttempts, type FinishedAttempt } from './db/finish-attempts.js';
import type { Logger } from './observability/logger.js';

/** Outcomes wait at most this long for company before they are written… */
const GATHER_MS = 10;
/** …or until this many are waiting (at the end of that turn of the event loop). */
const GATHER_MAX = 250;

/** Successes taken back by a batch are recorded after all if its COMMIT has not returned within this. */
const COMMIT_GRACE_MS = 100;

const NOTHING_TAKEN = Object.freeze({ settled: () => undefined });

/**
 * Writes attempt outcomes to the ledger soon after handlers return: what finishes within GATHER_MS (or the
 * first GATHER_MAX) goes in one statement, and whatever arrives while a write is in flight goes into the
 * next one. The write is on an autocommit connection, so a recorded success survives a crash before the
 * claim transaction commits (which may be a whole batch later), and the next claim reconciles it instead of
 * running it again; only an outcome younger than GATHER_MS plus one write is lost to a crash.
 *
 * A success still waiting when its batch completes is not written at all: takeBack() hands it to the batch,
 * whose completion commits it with the record (as durably), and failed_record_attempts shows it from there.
 * If that completion fails, or has not committed within COMMIT_GRACE_MS (it usually takes a few ms), the
 * successes are recorded after all, so a crash loses at most that much of them. Other outcomes are always
 * written: a failure's error belongs to its attempt, and a skipped attempt must be marked, or the next claim
 * would count it.
 */
export class AttemptRecorder {
  private pending: FinishedAttempt[] = [];
  /** The batch each pending outcome belongs to (for takeBack), index for index. */
  private owners: unknown[] = [];
  private flushing: Promise<void> | undefined;
  private gathered: (() => void) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  record(attempt: FinishedAttempt, owner?: unknown): void {
    this.pending.push(attempt);
    this.owners.push(owner);
    this.flushing ??= this.drain();
    // At the end of this turn, not now: a batch whose handlers all return within one turn (no I/O) takes its
    // successes back first, and then they need no write at all.
    if (this.pending.length === GATHER_MAX) setImmediate(() => this.gathered?.());
  }

  /**
   * Removes the successes of `owner` that are not yet being written, for its completion to commit. Call
   * settled(true) once the COMMIT returned, settled(false) if it failed: then they are recorded. If the
   * COMMIT takes longer than COMMIT_GRACE_MS they are recorded meanwhile.
   */
  takeBack(owner: unknown): { settled(committed: boolean): void } {
    const taken = this.removeSuccesses(owner);
    if (taken.length === 0) return NOTHING_TAKEN;
    let recorded = false;
    const recordTaken = () => {
      if (recorded) return;
      recorded = true;
      for (const attempt of taken) this.record(attempt);
    };
    const timer = setTimeout(recordTaken, COMMIT_GRACE_MS);
    return {
      settled: (committed) => {
        clearTimeout(timer);
        if (!committed) recordTaken();
      },
    };
  }

  private removeSuccesses(owner: unknown): FinishedAttempt[] {
    const taken: FinishedAttempt[] = [];
    let kept = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const attempt = this.pending[i]!;
      if (this.owners[i] === owner && attempt.outcome === 'succeeded') {
        taken.push(attempt);
      } else {
        this.pending[kept] = attempt;
        this.owners[kept++] = this.owners[i];
      }
    }
    this.pending.length = kept;
    this.owners.length = kept;
    return taken;
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
        this.owners = [];
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
