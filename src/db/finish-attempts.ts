import type pg from 'pg';
import { numberArray, wordArray } from './array-literal.js';

export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'skipped';

export interface FinishedAttempt {
  ledgerId: number;
  outcome: AttemptOutcome;
  error: string | null;
  /** Wall-clock ms since the epoch. */
  finishedAt: number;
}

/** Records how attempts ended, many in one statement, on an autocommit connection. */
export async function finishAttempts(pool: pg.Pool, attempts: readonly FinishedAttempt[]): Promise<void> {
  if (attempts.length === 0) return;
  await pool.query({
    name: 'retry-worker.finish-attempts',
    text: `
      UPDATE failed_record_attempts AS a
      SET outcome = u.outcome, error = u.error, finished_at = to_timestamp(u.finished_ms / 1000.0)
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[]) AS u(id, outcome, error, finished_ms)
      WHERE a.id = u.id AND a.outcome IS NULL`,
    values: [numberArray(attempts.map((a) => a.ledgerId)), wordArray(attempts.map((a) => a.outcome)), attempts.map((a) => a.error), numberArray(attempts.map((a) => a.finishedAt))],
  });
}
