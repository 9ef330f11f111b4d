import type pg from 'pg';
import type { RecordStatus } from './complete-records.js';

export const RECORD_STATUSES: readonly RecordStatus[] = ['pending', 'succeeded', 'dead', 'discarded', 'cancelled'];

export interface QueueStats {
  /** Rows of failed_records by status (every status present, 0 when none). */
  records: Record<RecordStatus, number>;
  /** Pending rows whose next_run_at has come (by the database's clock). */
  due: number;
  /** How long the oldest due row has waited past its next_run_at, in seconds; 0 when none is due. */
  oldestDueAgeSeconds: number;
}

/**
 * One statement, one pass over failed_records: counts by status, and the due backlog and its oldest row
 * judged by the database's clock. The caller bounds it (statement_timeout) and caches it; on a table that
 * keeps millions of finished rows it is a sequential scan, so prune finished rows if it gets slow.
 */
const QUEUE_STATS = `
  SELECT status,
         count(*)::int8 AS records,
         count(*) FILTER (WHERE next_run_at <= now())::int8 AS due,
         coalesce(extract(epoch FROM now() - min(next_run_at) FILTER (WHERE next_run_at <= now())), 0)::float8
           AS oldest_due_age_seconds
  FROM failed_records
  WHERE status = ANY($1::text[])
  GROUP BY status`;

export async function readQueueStats(db: pg.Pool | pg.ClientBase): Promise<QueueStats> {
  const { rows } = await db.query<{
    status: RecordStatus;
    records: number;
    due: number;
    oldest_due_age_seconds: number;
  }>({
    name: 'retry-worker.queue-stats',
    text: QUEUE_STATS,
    values: [RECORD_STATUSES],
  });
  const records = Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0])) as Record<RecordStatus, number>;
  let due = 0;
  let oldestDueAgeSeconds = 0;
  for (const row of rows) {
    records[row.status] = Number(row.records);
    if (row.status === 'pending') {
      due = Number(row.due);
      oldestDueAgeSeconds = Math.max(0, Number(row.oldest_due_age_seconds));
    }
  }
  return { records, due, oldestDueAgeSeconds };
}
