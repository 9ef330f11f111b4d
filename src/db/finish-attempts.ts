import type pg from 'pg';
import { numberArray, textArray, wordArray } from './array-literal.js';
import { idRange } from './id-range.js';

export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'skipped';

export interface FinishedAttempt {
  ledgerId: number;
  outcome: AttemptOutcome;
  error: string | null;
  /** Wall-clock ms since the epoch. */
  finishedAt: number;
}

/**
 * Records how attempts ended, many in one statement, on an autocommit connection. Only an attempt with no
 * outcome yet is written.
 *
 * Written for the planner as much as for the reader. The ledger's statistics say that (almost) no row lacks
 * an outcome, since only attempts in flight do; with `outcome IS NULL` in the condition the planner expected
 * one matching row and, on a ledger of 20,000 to 75,000 rows, scanned the whole table and re-read the 500
 * values once per matching row: 55-60 ms per statement instead of 2. The same test spelled through
 * coalesce() gets a neutral estimate, and the id range (the attempts written together are recent, so their
 * ids lie close) lets the primary key find them whatever the ledger's size.
 */
export async function finishAttempts(pool: pg.Pool, attempts: readonly FinishedAttempt[]): Promise<void> {
  if (attempts.length === 0) return;
  const ids = attempts.map((a) => a.ledgerId);
  const [lowest, highest] = idRange(ids);
  await pool.query({
    // Unnamed, so that the id range is seen (see idRange).
    text: `
      UPDATE retry_worker_attempts AS a
      SET outcome = u.outcome, error = u.error, finished_at = to_timestamp(u.finished_ms / 1000.0)
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[]) AS u(id, outcome, error, finished_ms)
      WHERE a.id = u.id AND a.id BETWEEN $5 AND $6 AND coalesce(a.outcome, '') = ''`,
    values: [numberArray(ids), wordArray(attempts.map((a) => a.outcome)), textArray(attempts.map((a) => a.error)), numberArray(attempts.map((a) => a.finishedAt)), lowest, highest],
  });
}
