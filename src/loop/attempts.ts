import type { ClaimedRow } from '../db/claim-records.js';
import type { Completion } from '../db/complete-records.js';
import type { AttemptOutcome } from '../db/finish-attempts.js';
import { type Backoff, nextRunDelayMs } from '../executor/backoff.js';

/**
 * An attempt's life, as pure functions: what to do with a claimed record (plan), and what an execution's
 * outcome means for the record's row, the ledger and the log (classify).
 *
 *   claimed ──plan──▶ run(attempt n) ──ledger row──▶ started ──handler──▶ outcome ──classify──▶ completion
 *        └──────────▶ settle(completion)     (nothing to run: reconcile the ledger, or the record is dead)
 *
 * Attempts the ledger holds above the row's own count were started but their outcome never reached the row:
 * their executor died, or its batch rolled back. The latest of them decides.
 */
export type Plan = { action: 'run'; attempt: number } | { action: 'settle'; completion: Completion };

/** How a handler's execution ended. */
export type ExecutionOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: Error; retryAfterMs?: number }
  | { kind: 'dead'; error: Error };

export interface PlanRules {
  backoff: Backoff;
  payloadMaxBytes: number;
  /** Whether a handler knows `kind`, and the known kinds' names (for the error). */
  knows(kind: string): boolean;
  knownKinds: string;
}

export function planAttempt(row: ClaimedRow, rules: PlanRules): Plan {
  const settle = (status: Completion['status'], attempts: number, lastError: string | null, delayMs = 0): Plan => ({
    action: 'settle',
    completion: { id: row.id, status, attempts, delayMs, lastError },
  });
  if (row.ledgerAttempt !== null) {
    const n = row.ledgerAttempt;
    switch (row.ledgerOutcome) {
      case 'succeeded':
        return settle('succeeded', n, null);
      case 'dead':
        return settle('dead', n, row.ledgerError);
      case 'failed':
        if (n >= row.maxAttempts)
          return settle('dead', n, `attempt ${n} of ${row.maxAttempts} failed: ${row.ledgerError}`);
        return settle('pending', n, row.ledgerError, nextRunDelayMs(n, rules.backoff));
      default:
        // No outcome: its executor died while it ran. It counts.
        if (n >= row.maxAttempts) {
          return settle(
            'dead',
            n,
            `attempts exhausted: attempt ${n} of ${row.maxAttempts} started and never finished (its executor stopped)${row.lastError ? `; earlier error: ${row.lastError}` : ''}`,
          );
        }
        return { action: 'run', attempt: n + 1 };
    }
  }
  if (row.attempts >= row.maxAttempts) {
    return settle(
      'dead',
      row.attempts,
      `max_attempts is ${row.maxAttempts} and ${row.attempts} attempts were made${row.lastError ? `; last error: ${row.lastError}` : ''}`,
    );
  }
  if (row.payload === null && row.payloadBytes > rules.payloadMaxBytes) {
    return settle(
      'dead',
      row.attempts,
      `payload is ${row.payloadBytes} bytes, over PAYLOAD_MAX_BYTES (${rules.payloadMaxBytes}); it was not loaded`,
    );
  }
  if (!rules.knows(row.kind)) {
    return settle(
      'dead',
      row.attempts,
      `unknown kind ${JSON.stringify(row.kind)}: no handler is registered for it (known kinds: ${rules.knownKinds})`,
    );
  }
  return { action: 'run', attempt: row.attempts + 1 };
}

/** What one execution's outcome means. `label` is the record's fate (`dead` when nothing is left to try). */
export interface Classified {
  label: AttemptOutcome;
  /** The attempt's own outcome, for the ledger: `dead` only for a permanent failure. */
  ledgerOutcome: AttemptOutcome;
  error: Error | null;
  completion: Completion;
}

export function classify(
  outcome: ExecutionOutcome,
  record: { id: number; maxAttempts: number },
  attempt: number,
  backoff: Backoff,
  random?: () => number,
): Classified {
  const completion = (status: Completion['status'], lastError: string | null, delayMs = 0): Completion => ({
    id: record.id,
    status,
    attempts: attempt,
    delayMs,
    lastError,
  });
  switch (outcome.kind) {
    case 'succeeded':
      return { label: 'succeeded', ledgerOutcome: 'succeeded', error: null, completion: completion('succeeded', null) };
    case 'dead':
      return {
        label: 'dead',
        ledgerOutcome: 'dead',
        error: outcome.error,
        completion: completion('dead', outcome.error.message),
      };
    case 'failed':
      if (attempt >= record.maxAttempts) {
        return {
          label: 'dead',
          ledgerOutcome: 'failed',
          error: outcome.error,
          completion: completion(
            'dead',
            `attempt ${attempt} of ${record.maxAttempts} failed: ${outcome.error.message}`,
          ),
        };
      }
      return {
        label: 'failed',
        ledgerOutcome: 'failed',
        error: outcome.error,
        completion: completion(
          'pending',
          outcome.error.message,
          nextRunDelayMs(attempt, backoff, outcome.retryAfterMs, random),
        ),
      };
  }
}
