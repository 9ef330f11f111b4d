import type { FinishedAttempt } from '../db/finish-attempts.js';
import type { AttemptLedger } from './attempt-ledger.js';

/**
 * A batch's successes that its completion is to commit with their records, as durably: failed_record_attempts
 * shows such a success from its record, so its ledger row is not written a second time. A success the batch
 * has not committed within `holdMs` is written after all, so that a crash re-runs few records that had
 * succeeded; so are all of them when the batch rolls back. A success lost in a crash counts as an attempt
 * that died: its record runs again, and ends dead if every attempt left fails. The last allowed attempt is
 * not held: lost, it would leave the record dead (attempts exhausted) with no run left to succeed.
 */
export class HeldSuccesses {
  private held: FinishedAttempt[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: Pick<AttemptLedger, 'finish' | 'flush'>,
    private readonly holdMs: number,
  ) {}

  /** An attempt's outcome: held if a success and not its record's last allowed attempt, else written now. */
  record(outcome: FinishedAttempt, lastAllowed: boolean): void {
    if (outcome.outcome !== 'succeeded' || lastAllowed || this.holdMs === 0) {
      this.ledger.finish(outcome);
      return;
    }
    this.held.push(outcome);
    this.timer ??= setTimeout(() => this.release(), this.holdMs);
  }

  /**
   * The batch will not commit them (it rolls back, or its completion missed rows): they go to the ledger, and
   * this resolves once they and every other outcome queued are written.
   */
  async write(): Promise<void> {
    this.release();
    await this.ledger.flush();
  }

  /** The batch has not committed them within the hold: they go to the ledger. */
  private release(): void {
    const held = this.held;
    this.drop();
    for (const success of held) this.ledger.finish(success);
  }

  /** The batch committed them with their records. */
  drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held = [];
  }
}
