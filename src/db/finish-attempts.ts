import type pg from 'pg';
import { storableText } from './sql-text.js';

/** How an attempt ended. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'cancelled';

export interface FinishedAttempt {
  ledgerId: number;
  outcome: AttemptOutcome;
  error: string | null;
  /** Wall-clock ms since the epoch. */
  finishedAt: number;
}

/**
 * Records how attempts ended, many in one autocommit statement. Only an attempt with no outcome yet is written.
 * A named statement, planned once per connection: its generic plan is a nested loop over the values by primary
 * key, right for one row or 500 (test/db/finish-attempts.test.ts checks it on a ledger analyzed while empty).
 */
export async function finishAttempts(db: pg.Pool | pg.ClientBase, attempts: readonly FinishedAttempt[]): Promise<void> {
  if (attempts.length === 0) return;
  await db.query({
    name: 'retry-worker-finish-attempts',
    text: `UPDATE retry_worker_attempts AS a
     SET outcome = u.outcome, error = u.error, finished_at = to_timestamp(u.finished_ms / 1000.0)
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[]) AS u(id, outcome, error, finished_ms)
     WHERE a.id = u.id AND a.outcome IS NULL`,
    values: [
      attempts.map((a) => a.ledgerId),
      attempts.map((a) => a.outcome),
      attempts.map((a) => storableText(a.error)),
      attempts.map((a) => a.finishedAt),
    ],
  });
}

/** Deletes the ledger rows of attempts that never started (the term ended, or the rows' locks became uncertain). */
export async function discardAttempts(db: pg.Pool | pg.ClientBase, ledgerIds: readonly number[]): Promise<void> {
  if (ledgerIds.length === 0) return;
  await db.query('DELETE FROM retry_worker_attempts WHERE id = ANY ($1::bigint[]) AND outcome IS NULL', [ledgerIds]);
}
