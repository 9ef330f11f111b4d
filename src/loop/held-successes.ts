import type { FinishedAttempt } from '../db/finish-attempts.js';
import type { AttemptLedger } from './attempt-ledger.js';

/**
 * A batch's successes that its completion is to commit with their records, as durably: failed_record_attempts
 * shows such a success from its record, so its ledger row is not written a second time. A success the batch
 * has not committed within `holdMs` is written after all, so that a crash re-runs few records that had
 * succeeded; so are all of them when the batch rolls back. A record's last allowed attempt is not held: lost
 * in a crash, it would leave the record dead (attempts exhausted) although its handler succeeded.
 */
export class HeldSuccesses {
  private held: FinishedAttempt[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: Pick<AttemptLedger, 'finish'>,
    private readonly holdMs: number,
  ) {}

  /** An attempt's outcome: held if a success and not its record's last allowed attempt, else written now. */
  record(outcome: FinishedAttempt, lastAllowed: boolean): void {
    if (outcome.outcome !== 'succeeded' || lastAllowed) {
      this.ledger.finish(outcome);
      return;
    }
    this.held.push(outcome);
    this.timer ??= setTimeout(() => this.release(), this.holdMs);
  }

  /** The batch did not commit them (not yet, or not at all): they go to the ledger. */
  release(): void {
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
