import type pg from 'pg';
import { numberArray, textArray, wordArray } from './array-literal.js';
import { idRange } from './id-range.js';

export type RecordStatus = 'pending' | 'succeeded' | 'dead';

export interface Completion {
  id: number;
  status: RecordStatus;
  attempts: number;
  /** For `pending`: how long until the next attempt (judged by the database's clock). */
  delayMs: number;
  lastError: string | null;
}

/**
 * Writes the outcome of a claimed batch, set-based, inside the claim transaction that still holds the rows.
 * Conditional on the row still being pending; returns how many rows it changed. Times are the completion's
 * own (clock_timestamp()), not the claim's (now(), the transaction's start): a batch can run for minutes,
 * a backoff starts when the batch completes, and failed_record_attempts shows a success committed with its
 * record as finished when it was completed, after the attempt started.
 *
 * The id range is for the planner: without it, on tables of 20,000 to 100,000 rows it joined the 500 values
 * to a scan of the whole table (5-13 ms a statement where the primary key takes 2). A batch's ids usually lie
 * close together (claimed in due order); where they do not, the range only costs what its absence did.
 */
export async function completeRecords(client: pg.ClientBase, completions: readonly Completion[]): Promise<number> {
  if (completions.length === 0) return 0;
  const ids = completions.map((c) => c.id);
  const [lowest, highest] = idRange(ids);
  const result = await client.query({
    // Unnamed, so that the id range is seen (see idRange).
    text: `
      UPDATE failed_records AS f
      SET status = u.status,
          attempts = u.attempts,
          last_error = u.last_error,
          next_run_at = CASE WHEN u.status = 'pending' THEN clock_timestamp() + u.delay_ms * interval '1 millisecond' ELSE f.next_run_at END,
          finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE clock_timestamp() END,
          updated_at = clock_timestamp()
      FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::text[]) AS u(id, status, attempts, delay_ms, last_error)
      WHERE f.id = u.id AND f.id BETWEEN $6 AND $7 AND f.status = 'pending'`,
    values: [
      numberArray(ids),
      wordArray(completions.map((c) => c.status)),
      numberArray(completions.map((c) => c.attempts)),
      numberArray(completions.map((c) => Math.max(0, Math.round(c.delayMs)))),
      textArray(completions.map((c) => c.lastError)),
      lowest,
      highest,
    ],
  });
  return result.rowCount ?? 0;
}
