import type pg from 'pg';
import { batchStatement } from './batch-statement.js';
import { storableText } from './sql-text.js';

/**
 * A record's status. pending: the leader moves it on (an operator may discard or cancel it while no claim holds
 * it); succeeded, dead, discarded, cancelled: final (only an operator moves them: requeue, discard).
 */
export type RecordStatus = 'pending' | 'succeeded' | 'dead' | 'discarded' | 'cancelled';

/** How a claimed record's row ends its batch. */
export interface Completion {
  id: number;
  status: RecordStatus;
  attempts: number;
  /** For `pending`: how long until the next attempt (judged by the database's clock). */
  delayMs: number;
  lastError: string | null;
}

/**
 * Writes the outcomes of a claimed batch in one statement, inside the claim transaction that still holds the
 * rows, conditional on each row still being pending; returns how many rows it changed. Times are the
 * statement's own (clock_timestamp(), not the transaction's start): a backoff starts when the batch completes.
 * In dispatch mode it also clears the row's dispatch mark: its message is done with, and any other is stale.
 */
export async function completeRecords(client: pg.ClientBase, completions: readonly Completion[]): Promise<number> {
  if (completions.length === 0) return 0;
  const result = await client.query(
    batchStatement(
      'retry-worker-complete-records',
      completions.length,
      `UPDATE failed_records AS f
     SET status = u.status,
         attempts = u.attempts,
         last_error = u.last_error,
         next_run_at = CASE WHEN u.status = 'pending'
                            THEN clock_timestamp() + u.delay_ms * interval '1 millisecond'
                            ELSE f.next_run_at END,
         finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE clock_timestamp() END,
         updated_at = clock_timestamp(),
         dispatched_at = NULL,
         dispatch_token = NULL
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::text[])
          AS u(id, status, attempts, delay_ms, last_error)
     WHERE f.id = u.id AND f.status = 'pending'`,
      [
        completions.map((c) => c.id),
        completions.map((c) => c.status),
        completions.map((c) => c.attempts),
        completions.map((c) => Math.max(0, Math.round(c.delayMs))),
        completions.map((c) => storableText(c.lastError)),
      ],
    ),
  );
  return result.rowCount ?? 0;
}
