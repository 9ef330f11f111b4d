import type pg from 'pg';
import { numberArray } from './array-literal.js';
import type { ClaimedRecord } from './claim-records.js';

/**
 * What the ledger says to do with a claimed record:
 * - run: execute it as attempt `attempt`; the ledger row `ledgerId` is already written.
 * - succeeded / dead: an earlier attempt finished so, but its executor died before committing the row.
 * - exhausted: every allowed attempt was started (some by executors that died); the record is dead.
 */
export type AttemptPlan =
  | { recordId: number; action: 'run'; attempt: number; ledgerId: number }
  | { recordId: number; action: 'succeeded' | 'dead' | 'exhausted'; attempt: number; error: string | null };

/** A row of a statement that plans attempts (this one, and claimAndStartAttempts). */
export interface PlanRow {
  recordId: number;
  settled: number;
  lastOutcome: string | null;
  lastError: string | null;
  ledgerId: number | null;
  attempt: number | null;
}

// Attempts above the row's own count were started but never committed: their executor died. The latest such
// attempt decides: a recorded success or permanent failure is reconciled, anything else counts. For a claimed
// row `c` (record_id, attempts).
export const LATEST_UNSETTLED_ATTEMPT = `
      SELECT a.attempt, a.outcome, a.error
      FROM retry_worker_attempts a
      WHERE a.record_id = c.record_id AND a.attempt > c.attempts AND a.outcome IS DISTINCT FROM 'skipped'
      ORDER BY a.attempt DESC, a.id DESC
      LIMIT 1`;

/** Of a planned row (settled, last_outcome, max_attempts): an attempt runs. */
export const RUNNABLE = `last_outcome IS DISTINCT FROM 'succeeded' AND last_outcome IS DISTINCT FROM 'dead' AND settled < max_attempts`;

const START_ATTEMPTS = `
  WITH claimed AS (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[]) AS c(record_id, attempts, max_attempts)
  ), prior AS (
    SELECT c.record_id, c.max_attempts,
           greatest(c.attempts, coalesce(l.attempt, 0)) AS settled,
           l.outcome AS last_outcome, l.error AS last_error
    FROM claimed c
    LEFT JOIN LATERAL (${LATEST_UNSETTLED_ATTEMPT}) l ON true
  ), started AS (
    INSERT INTO retry_worker_attempts (record_id, attempt, epoch, replica_id)
    SELECT record_id, settled + 1, $4, $5
    FROM prior
    WHERE ${RUNNABLE}
    RETURNING id, record_id, attempt
  )
  SELECT p.record_id AS "recordId", p.settled, p.last_outcome AS "lastOutcome", p.last_error AS "lastError",
         s.id AS "ledgerId", s.attempt
  FROM prior p LEFT JOIN started s ON s.record_id = p.record_id`;

/**
 * Writes one ledger row per attempt about to run, in one statement on an autocommit connection (never the
 * claim transaction), so that an attempt whose executor dies still counts.
 */
export async function startAttempts(db: pg.Pool | pg.ClientBase, records: readonly ClaimedRecord[], epoch: number, replicaId: string): Promise<AttemptPlan[]> {
  const { rows } = await db.query<PlanRow>({
    name: 'retry-worker.start-attempts',
    text: START_ATTEMPTS,
    values: [numberArray(records.map((r) => r.id)), numberArray(records.map((r) => r.attempts)), numberArray(records.map((r) => r.maxAttempts)), epoch, replicaId],
  });
  return rows.map(toPlan);
}

export function toPlan(row: PlanRow): AttemptPlan {
  if (row.ledgerId !== null && row.attempt !== null) return { recordId: row.recordId, action: 'run', attempt: row.attempt, ledgerId: row.ledgerId };
  if (row.lastOutcome === 'succeeded' || row.lastOutcome === 'dead') {
    return { recordId: row.recordId, action: row.lastOutcome, attempt: row.settled, error: row.lastError };
  }
  return { recordId: row.recordId, action: 'exhausted', attempt: row.settled, error: row.lastError };
}
