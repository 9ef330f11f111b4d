import type pg from 'pg';
import type { RecordStatus } from './complete-records.js';

/** One row of failed_records as `status --record` needs it, with the database's clock. */
export interface RecordRow {
  id: number;
  kind: string;
  status: RecordStatus;
  attempts: number;
  /** The row's own max_attempts; null means DEFAULT_MAX_ATTEMPTS. */
  maxAttempts: number | null;
  /** Attempts made before the last requeue: the budget counts from here. */
  attemptBase: number;
  nextRunAt: Date;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** Due pending rows that the claim takes before this one (ORDER BY next_run_at, id). */
  dueAhead: number;
  now: Date;
}

export async function readRecord(db: pg.Pool | pg.ClientBase, id: number): Promise<RecordRow | null> {
  const { rows } = await db.query<RecordRow>({
    name: 'retry-worker.read-record',
    text: `
      SELECT r.id, r.kind, r.status, r.attempts, r.max_attempts AS "maxAttempts", r.attempt_base AS "attemptBase",
             r.next_run_at AS "nextRunAt",
             r.last_error AS "lastError", r.created_at AS "createdAt", r.updated_at AS "updatedAt",
             r.finished_at AS "finishedAt",
             (SELECT count(*) FROM failed_records q
               WHERE q.status = 'pending' AND q.next_run_at <= now()
                 AND (q.next_run_at, q.id) < (r.next_run_at, r.id))::int8 AS "dueAhead",
             now() AS now
      FROM failed_records r
      WHERE r.id = $1`,
    values: [id],
  });
  return rows[0] ?? null;
}
