import type { ClaimedRow } from '../db/claim-records.js';
import type { Completion } from '../db/complete-records.js';
import type { AttemptOutcome } from '../db/finish-attempts.js';
import type { AttemptAhead } from '../db/start-ahead.js';
import { nextRunDelayMs } from '../executor/backoff.js';
import type { Kind, KindRegistry } from '../executor/kinds.js';

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
export type Plan =
  | { action: 'run'; attempt: number; maxAttempts: number; kind: Kind }
  | { action: 'settle'; completion: Completion };

/** How a handler's execution ended. */
export type ExecutionOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: Error; retryAfterMs?: number }
  | { kind: 'dead'; error: Error }
  | { kind: 'cancelled'; error: Error };

export interface PlanRules {
  kinds: KindRegistry;
  /** For a record of a kind nobody handles (it is dead anyway). */
  defaultMaxAttempts: number;
  payloadMaxBytes: number;
}

/**
 * `row` as its claim would have read it without `ahead`, the ledger row an idle leader wrote for it beside that
 * claim (AttemptLedger.startAhead): both were in flight at once, so the claim may have read it, and it is no
 * attempt that started and never finished.
 */
export function withoutAttemptAhead(row: ClaimedRow, ahead: AttemptAhead | undefined): ClaimedRow {
  if (ahead?.recordUid !== row.uid || row.ledgerAttempt !== ahead.attempt || row.ledgerOutcome !== null) return row;
  return { ...row, ledgerAttempt: null, ledgerOutcome: null, ledgerError: null };
}

export function planAttempt(row: ClaimedRow, rules: PlanRules): Plan {
  const kind = rules.kinds.get(row.kind);
  // A requeue gives a fresh budget above the attempts made before it.
  const maxAttempts = row.attemptBase + (row.maxAttempts ?? kind?.maxAttempts ?? rules.defaultMaxAttempts);
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
      case 'cancelled':
        return settle('cancelled', n, row.ledgerError);
      case 'failed':
        if (n >= maxAttempts) return settle('dead', n, `attempt ${n} of ${maxAttempts} failed: ${row.ledgerError}`);
        return settle('pending', n, row.ledgerError, kind ? nextRunDelayMs(n, kind.backoff) : 0);
      default:
        // No outcome: its executor died while it ran. It counts.
        if (n >= maxAttempts) {
          return settle(
            'dead',
            n,
            `attempts exhausted: attempt ${n} of ${maxAttempts} started and never finished (its executor stopped)` +
              `${row.lastError ? `; earlier error: ${row.lastError}` : ''}`,
          );
        }
        if (kind) return { action: 'run', attempt: n + 1, maxAttempts, kind };
    }
  }
  if (row.attempts >= maxAttempts) {
    return settle(
      'dead',
      row.attempts,
      `max_attempts is ${maxAttempts} and ${row.attempts} attempts were made` +
        `${row.lastError ? `; last error: ${row.lastError}` : ''}`,
    );
  }
  if (row.payload === null && row.payloadBytes > rules.payloadMaxBytes) {
    return settle(
      'dead',
      row.attempts,
      `payload is ${row.payloadBytes} bytes, over PAYLOAD_MAX_BYTES (${rules.payloadMaxBytes}); it was not loaded`,
    );
  }
  if (!kind) {
    const known = rules.kinds.names.join(', ');
    return settle(
      'dead',
      row.attempts,
      `unknown kind ${JSON.stringify(row.kind)}: no handler is registered for it (known kinds: ${known})`,
    );
  }
  return { action: 'run', attempt: row.attempts + 1, maxAttempts, kind };
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
  kind: Pick<Kind, 'backoff' | 'retryOn'>,
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
    case 'cancelled':
      return {
        label: 'cancelled',
        ledgerOutcome: 'cancelled',
        error: outcome.error,
        completion: completion('cancelled', outcome.error.message),
      };
    case 'failed':
      if (kind.retryOn && !retryable(kind.retryOn, outcome.error)) {
        const error = new Error(`not retryable (its kind's retryOn said so): ${outcome.error.message}`, {
          cause: outcome.error,
        });
        return { label: 'dead', ledgerOutcome: 'dead', error, completion: completion('dead', error.message) };
      }
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
          nextRunDelayMs(attempt, kind.backoff, outcome.retryAfterMs, random),
        ),
      };
  }
}

/** A retryOn that throws counts as "retry": a bug in it must not make records dead. */
function retryable(retryOn: (error: Error) => boolean, error: Error): boolean {
  try {
    return retryOn(error) !== false;
  } catch {
    return true;
  }
}

/**
 * Dispatch mode's rule for an attempt whose executor died (a consumer killed mid-execution): the next attempt
 * waits that attempt's backoff, as after a failure, instead of starting at once. A consumer's crash frees its
 * row and returns its message at once (there is no lease to wait out, as a leader's crash has), while the
 * downstream may still be serving the dead consumer's request; the backoff gives it that time.
 */
export function waitAfterDiedAttempt(row: ClaimedRow, plan: Plan): Plan {
  if (plan.action !== 'run' || row.ledgerAttempt === null || row.ledgerOutcome !== null) return plan;
  const n = row.ledgerAttempt;
  return {
    action: 'settle',
    completion: {
      id: row.id,
      status: 'pending',
      attempts: n,
      delayMs: nextRunDelayMs(n, plan.kind.backoff),
      lastError:
        `attempt ${n} of ${plan.maxAttempts} started and never finished (its executor stopped)` +
        (row.lastError ? `; earlier error: ${row.lastError}` : ''),
    },
  };
}
