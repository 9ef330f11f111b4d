import type pg from 'pg';
import { intArrayLiteral, textArrayLiteral } from './literal.js';
import { PreparedSql } from './prepared-sql.js';
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

/** Up to this many rows, the completion is a prepared statement. */
const FEW_ROWS = 16;

/** The completion, over five arrays (ids, statuses, attempts, delays in ms, last errors): SQL expressions. */
const completion = (arrays: readonly string[]) => `
    UPDATE failed_records AS f
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
    FROM unnest(${arrays.join(', ')}) AS u(id, status, attempts, delay_ms, last_error)
    WHERE f.id = u.id AND f.status = 'pending'`;

const COMPLETE_FEW = new PreparedSql(
  'retry_worker_complete_records',
  ['bigint[]', 'text[]', 'int[]', 'bigint[]', 'text[]'],
  completion(['$1::bigint[]', '$2::text[]', '$3::int[]', '$4::bigint[]', '$5::text[]']),
);

/**
 * Writes the outcomes of a claimed batch in one statement, inside the claim transaction that still holds the
 * rows, conditional on each row still being pending, and commits: one round trip. Returns how many rows it
 * changed. Times are the statement's own (clock_timestamp(), not the transaction's start): a backoff starts when
 * the batch completes. In dispatch mode it also clears the row's dispatch mark: its message is done with, and
 * any other is stale. The caller rolls back if it throws.
 *
 * Up to FEW_ROWS (a dispatch group) it is prepared in SQL, so that the UPDATE and the COMMIT go in one simple
 * query, and planned once per connection; a claimed batch's completion is planned for its values (0.2 ms for
 * 500 rows, once per batch).
 */
export async function completeAndCommit(client: pg.ClientBase, completions: readonly Completion[]): Promise<number> {
  if (completions.length === 0) {
    await client.query('COMMIT');
    return 0;
  }
  const arrays = [
    intArrayLiteral(
      completions.map((c) => c.id),
      'bigint',
    ),
    textArrayLiteral(
      client,
      completions.map((c) => c.status),
      'text',
    ),
    intArrayLiteral(
      completions.map((c) => c.attempts),
      'int',
    ),
    intArrayLiteral(
      completions.map((c) => Math.max(0, Math.round(c.delayMs))),
      'bigint',
    ),
    textArrayLiteral(
      client,
      completions.map((c) => storableText(c.lastError)),
      'text',
    ),
  ];
  const [result] =
    completions.length <= FEW_ROWS
      ? await COMPLETE_FEW.query<pg.QueryResult[]>(client, `${COMPLETE_FEW.execute(arrays)}; COMMIT`)
      : ((await client.query(`${completion(arrays)}; COMMIT`)) as unknown as pg.QueryResult[]);
  return result?.rowCount ?? 0;
}
